#!/usr/bin/env bash
# The split cut's compact with the lowest of the blocks' cuts found by one round of loads and a warp reduction at the
# start of each KV head's block 0 ("new"), against b088822's (the C rows read one after the other at that block's end;
# "old"). Checks of the split rows and compute-sanitizer's four tools on rand8-split and g2-8-split; then same-call runs
# at 1 x 128K with --cut-split, 5% and certified: int8 new old new old, int4 new old, mixed new old, and --breakdown of
# int8 new. Every run checks its batch entry against float64 (the rule against each page's block θ, the lowest θ).
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
for a in old new; do xz -dc .gpu_carry/bench_$a.xz > .gpu_carry/gb_$a && chmod +x .gpu_carry/gb_$a; done
cp .gpu_carry/gb_new .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab" /tmp/san
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/gb_new
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*compact_kernel" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage_compact.txt"
echo "compact builds: $(wc -l < "$O/ab/res_usage_compact.txt"), with stack or local > 0: $(grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0' "$O/ab/res_usage_compact.txt")"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
  chk mixed-split-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05 --check-batches 3 --cut-split
  chk g3-d64-4-split --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk g2-8-split --hq 16 --hkv 8 --batch 2 --n 3000 --fracs 0.05,1 --check-batches 2 --cut-split
  chk 1x128K-8-split --batch 1 --n 131072 --fracs 0.05 --check-batches 1 --cut-split
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | cut -c1-200 | head -10
GHOSTKV_SMALL_ROWS="rand8-split g2-8-split" GHOSTKV_SANITIZE_BUDGET_S=60 GHOSTKV_SANITIZE_ROW_S=45 OUT=/tmp/san \
  timeout -k 5 75 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# breakdown|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; abrun .gpu_carry/gb_$a --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 --cut-split "$@"; }
  for a in new old new old; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in new old; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in new old; do ab $a "1x128K-mixed" --batch 1 --n 131072 --bits mixed; done
  ab new "1x128K-8-bd" --batch 1 --n 131072 --bits 8 --breakdown --reps 20
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^# cut|^forced|^certified|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-220
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
