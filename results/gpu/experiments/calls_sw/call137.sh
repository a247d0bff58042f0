#!/usr/bin/env bash
# The quant scan's compaction with one atomic per block and round on the KV head's survivor count (the warps' offsets
# from a shared-memory count) instead of one per warp, and theta loaded once per block (thread 0, into shared memory)
# instead of by every warp: checks (--check-only: rand8 --poison, G 3 / d 64 int4, 8 x 64K
# with four rounds per warp, one split, 3 x 8256), compute-sanitizer's four tools on rand8, g3-d64-4 and 8x32K (two rounds per warp);
# the scan's timeline (GHOSTKV_SCAN_DEBUG=32) at int8 / int4 with the compaction; same-call pairs at 1 x 128K, B
# (GHOSTKV_SCAN_COMPACT=0: compact kernel) and C (1), int8 / int4 / mixed at 5% forced and certified, B C then C B;
# every timed run checks its batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab" /tmp/san
b=.gpu_carry/ghostkv_gpu_bench
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk g3-d64-4 --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2
  chk 8x64K --batch 8 --n 65536 --check-batches 2 --fracs 0.05,1 --poison
  chk fin --batch 2 --n 4160 --splits 1 --fracs 0.05,1 --poison
  chk rand8-b3-8256 --batch 3 --n 8256 --check-batches 3 --fracs 0.05,1 --poison
  chk mixed-heads8 --bits mixed --batch 2 --n 4160 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | head -10
san="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -1)"
(
  export OMP_NUM_THREADS=4
  for tool in memcheck racecheck synccheck initcheck; do
    (
      export CUDA_VISIBLE_DEVICES=0
      topts=(); [ $tool = racecheck ] || [ $tool = synccheck ] && topts=(--num-cuda-barriers 1024)
      for row in "rand8:--batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2" \
                 "g3-d64-4:--d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2" \
                 "8x32K:--batch 8 --n 32768 --fracs 0.05 --check-batches 1"; do
        timeout -k 5 60 "$san" --tool $tool "${topts[@]}" --error-exitcode 9 --print-limit 30 -- $b --device "$dev" \
          --commit "$cm" --name "${row%%:*}" --check-only --reps 1 ${row#*:} > /tmp/san/${tool}_${row%%:*}.txt 2>&1
        echo "sanitize $tool ${row%%:*} rc=$? $(grep -hE 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/san/${tool}_${row%%:*}.txt | head -1)"
      done
    ) &
  done
  wait
) > "$O/ab/sanitize.txt" 2>&1
cat "$O/ab/sanitize.txt"; echo "sanitize done $(( $(date +%s) - t0 )) s"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 300 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# scan timeline|# breakdown"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for bits in 8 4; do
    abrun env GHOSTKV_SCAN_DEBUG=32 $b --device "$dev" --commit "$cm-C-dbg32" --csv "$O/ab/tl.csv" --name "tl-C-1x128K-$bits" \
      --batch 1 --n 131072 --bits $bits --reps 30 --check-batches 1 --fracs 0.05 --scan-timeline-csv "$O/ab/timeline.csv"
  done
  ab() { local a=$1 nm=$2; shift 2; local cp=1; [ $a = B ] && cp=0; abrun env GHOSTKV_SCAN_COMPACT=$cp $b --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for bits in 8 4 mixed; do for a in B C; do ab $a "1x128K-$bits" --batch 1 --n 131072 --bits $bits; done; done
  for bits in 8 4 mixed; do for a in C B; do ab $a "1x128K-$bits" --batch 1 --n 131072 --bits $bits; done; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|# scan timeline" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-600
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
