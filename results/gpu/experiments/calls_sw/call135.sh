#!/usr/bin/env bash
# The full run's first half with the quant scan compacting its own pages after the global cut (GHOSTKV_SCAN_COMPACT=1,
# default: no compact kernel at 1 x 128K without anchors) and the cut's counts copied by coalesced loads
# (GHOSTKV_CUT_COAL=1, default): every check row (gpu_bench.sh quick) into $OUT/quick; a multi-round row (8 x 64K: 32
# pages per warp, four rounds) --check-only; then same-call pairs at 1 x 128K, B (COAL 1, SCAN_COMPACT 0) and C (both
# 1) in turn, int8 / int4 / mixed at 5% forced and certified, int8 with --breakdown; compute-sanitizer's four tools on
# rand8, g3-d64-4 and splits98. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/quick" "$O/ab" /tmp/san
OUT="$O/quick" timeout -k 10 300 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$O/quick/log.txt"), passed: $(grep -c 'all checks passed' "$O/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$O/quick/log.txt" | head -10
b=.gpu_carry/ghostkv_gpu_bench
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  echo "+ check 8x64K"; timeout -k 5 90 $b --device "$dev" --commit "$cm" --name 8x64K --check-only --reps 1 --batch 8 --n 65536 \
    --check-batches 2 --fracs 0.05,1 --poison 2>&1 | grep -E "checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"
  abrun() { [ $(( $(date +%s) - t0 )) -lt 500 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|# breakdown"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local cp=1; [ $a = B ] && cp=0; abrun env GHOSTKV_SCAN_COMPACT=$cp $b --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@"; }
  for bits in 8 4 mixed; do for a in B C; do ab $a "1x128K-$bits" --batch 1 --n 131072 --bits $bits; done; done
  for a in C B; do ab $a 1x128K-8-bd --batch 1 --n 131072 --bits 8 --breakdown; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=|skipped|checks" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-300
grep "# breakdown" "$O/ab/stdout.txt" | cut -c1-200
GHOSTKV_SMALL_ROWS="rand8 g3-d64-4 splits98" GHOSTKV_SANITIZE_BUDGET_S=60 GHOSTKV_SANITIZE_ROW_S=40 OUT=/tmp/san \
  timeout -k 5 75 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize_call135.tar.xz" san
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*(scan_kernel|compact_kernel)" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage.txt"
echo "total $(( $(date +%s) - t0 )) s"
