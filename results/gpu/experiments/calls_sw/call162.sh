#!/usr/bin/env bash
# The split cut's in-scan walk with the batch's M_E terms computed while its survivor-count atomic is in flight
# (GHOSTKV_SPLIT_COMPACT=3, "sc3") against the default batches of 4 (2, "sc2"), one binary (commit in COMMIT): checks of
# three split rows under walk 3; same-call pairs at 1 x 128K int8 (5% forced and certified), int4 once; then walk 3 at
# forced 1 / 5 / 20 / 100% and certified (int8). One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
O="$OUT"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_COMPACT=3
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk g3-d64-4-split --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk 1x32K-split --batch 1 --n 32768 --fracs 0.05,1 --check-batches 1 --cut-split
) > "$O/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/checks.txt") passed of $(grep -c '^+ check' "$O/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/checks.txt" | head -5
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 150 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^# cut|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2
         GHOSTKV_SPLIT_COMPACT=$a abrun $b --device "$dev" --commit "$cm-sc$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@" --cut-split; }
  for a in 3 2 3 2; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.05; done
  ab 3 "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.2
  ab 3 "1x128K-4" --batch 1 --n 131072 --bits 4 --fracs 0.05
  ab 2 "1x128K-4" --batch 1 --n 131072 --bits 4 --fracs 0.05
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200
echo "total $(( $(date +%s) - t0 )) s"
