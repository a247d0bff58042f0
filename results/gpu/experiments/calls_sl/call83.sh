#!/usr/bin/env bash
# The fused low-rank block's walk takes its pages and physical pages from its shared list (compact_walk's SL, d9923e5):
# a same-call A/B of 03a45b9's binary (`old`) against d9923e5's (`new`), old new new old new old, every row checked against
# float64 first: 32 × 32K low-rank with anchors at forced 5% and 20% and certified, with --breakdown. One H200;
# everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/bench_old.xz > .gpu_carry/ghostkv_gpu_bench_old && chmod +x .gpu_carry/ghostkv_gpu_bench_old
nvidia-smi -L
O="$OUT"
mkdir -p "$O/ab"
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  abrun() { [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|^# dense|^# breakdown|fused low-rank"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for v in old new new old new old; do
    b=.gpu_carry/ghostkv_gpu_bench; [ "$v" = old ] && b=.gpu_carry/ghostkv_gpu_bench_old
    ab=(--device "$dev" --commit "$cm-$v" --csv "$O/ab/ab.csv" --breakdown)
    abrun $b "${ab[@]}" --name "$v-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.05,0.2
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|breakdown|rc=" "$O/ab/stdout.txt" | sed -E 's/; gather all rows.*//; s/--device .* --name //' | cut -c1-220 | tail -50
tar -C "$O" -cJf "$O/call83_ab.tar.xz" ab && rm -rf "$O/ab"
echo "total $(( $(date +%s) - t0 )) s"
