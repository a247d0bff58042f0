#!/usr/bin/env bash
# Where the fused low-rank kernel's time goes (the moonshot's stage 1): GHOSTKV_LR_DEBUG builds of lowrank_fused_kernel
# (diagnostics, wrong bounds: 1 the query factors as zeros instead of their set-up, 2 no compaction walk, 4 no bounds in
# the scan pass, 3 and 7 together) against the default (0), same binary, 0 1 2 4 3 7 then 7 3 4 2 1 0, on 32 × 32K
# low-rank with anchors, forced 5% (pages 20%) and 20%, with --breakdown. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 520; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call76_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
wd=$!
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  b=.gpu_carry/ghostkv_gpu_bench
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  ab=(--device "$dev" --commit "$cm" --csv "$O/ab/ab.csv" --breakdown)
  abrun() { [ $(( $(date +%s) - t0 )) -lt 470 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense|^# breakdown"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for d in 0 1 2 4 3 7 7 3 4 2 1 0; do
    export GHOSTKV_LR_DEBUG=$d; abrun $b "${ab[@]}" --name "lrdbg$d-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05,0.2
  done
) > "$O/ab/stdout.txt" 2>&1
kill $wd 2>/dev/null
grep -E "^\+|breakdown|rc=" "$O/ab/stdout.txt" | sed -E 's/; gather all rows.*//; s/--device .* --name //' | cut -c1-260 | tail -60
tar -C "$O" -cJf "$O/call76.tar.xz" ab && rm -rf "$O/ab" "$O/call76_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
