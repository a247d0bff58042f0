#!/usr/bin/env bash
# The survivor gather as 512-byte K|V pieces (gather_probe mode 4, the access a cache with each token's K and V rows
# adjacent would need) against the gather of today's layout (mode 0, a 256-byte K row and a 256-byte V row per
# survivor), both in `--breakdown`, same binary, two rounds: 1 × 128K int8 5/20/100%, 32 × 32K int8 5/20%, low-rank
# with anchors 5% at 32 × 32K, int4 with anchors 20% at 1 × 128K. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
O="$OUT"
mkdir -p "$O/ab"
( sleep 520; echo "watchdog $(date +%T)" >> "$O/ab/stdout.txt"; tar -C "$O" -cJf "$O/call73_watchdog.tar.xz" ab; rm -rf "$O/ab" ) &
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 480 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense|^# breakdown"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  one=(--batch 1 --n 131072 --reps 30 --check-batches 1)
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for r in 1 2; do
    abrun $b "${ab[@]}" --name "kv$r-1x128K-b8" "${one[@]}" --fracs 0.05,0.2,1
    abrun $b "${ab[@]}" --name "kv$r-32x32K-b8" "${big[@]}" --fracs 0.05,0.2
    abrun $b "${ab[@]}" --name "kv$r-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05
    abrun $b "${ab[@]}" --name "kv$r-1x128K-b4-anc" --bits 4 --anchors "${one[@]}" --fracs 0.2
  done
) > "$O/ab/stdout.txt" 2>&1
kill $wd 2>/dev/null
grep -E "^\+|breakdown|rc=" "$O/ab/stdout.txt" | sed -E 's/stage1 prefixes ms:[^;]*;//; s/ \(prep in scan\)//' | cut -c1-400 | tail -60
tar -C "$O" -cJf "$O/call73.tar.xz" ab && rm -rf "$O/ab" "$O/call73_watchdog.tar.xz"
echo "total $(( $(date +%s) - t0 )) s"
