#!/usr/bin/env bash
# Batched compact with 2 segments a batch at 8 blocks per SM ("new": at 1 x 128K 132 blocks per KV head, a warp's 1-2
# segments in one batch) against 4 a batch at 4 blocks per SM ("old", f560d72's binary: c44102c's kernels; 66 blocks
# per KV head). call143's Nsight Compute source page put a fifth of compact's samples in the batch's decisions and
# another fifth in its row stores, both fixed-latency waits (stall_wait) of a warp's serial work, with 4 warps per
# scheduler. Checks of the new binary (4 small rows), then same-call pairs: 1 x 128K int8 5% and certified in orders
# old new new old, int4 new old, 32 x 32K int8 old new. Every timed run checks its batch entry against float64.
# One H200; everything under $OUT; the device time left to the session is about 240 s.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
for a in old new; do xz -dc .gpu_carry/bench_$a.xz > .gpu_carry/gb_$a && chmod +x .gpu_carry/gb_$a; done
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab"
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage .gpu_carry/gb_new 2>&1 | grep -A1 -E "Function .*compact_kernel" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage_new.txt"
echo "res usage new: $(wc -l < "$O/ab/res_usage_new.txt") compact kernels; with stack or local > 0: $(grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0' "$O/ab/res_usage_new.txt")"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  b=.gpu_carry/gb_new
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 30 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk g3-d64-4 --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2
  chk anc8-far-b3 --anchors --far-pages 0.5 --batch 3 --n 3000 --fracs 0.05 --check-batches 3
  GHOSTKV_COMPACT_READY=1 chk rand8-ready-fin --batch 2 --n 4160 --splits 1 --fracs 0.05,1
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | head -10
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 175 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 50 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; abrun .gpu_carry/gb_$a --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for a in old new new old; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in new old; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in old new; do ab $a "32x32K-8" --batch 32 --n 32768 --bits 8 --reps 20; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-300
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
