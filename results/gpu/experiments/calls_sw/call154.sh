#!/usr/bin/env bash
# The split cut with compact taking the scan blocks as they finish (compact_split_kernel: each scan block publishes
# its cut on a list; m compact blocks per scan block wait for their entry instead of for the whole scan grid; "new")
# against e133b97's split cut (compact after the whole scan, each page's theta from shared memory; "old"). Resource
# usage; checks of the small rows (split and not) and compute-sanitizer's four tools on the split rows; then same-call
# runs at 1 x 128K, 5% and certified: int8 glob (new binary, one cut), new, old, new, glob; int4 and mixed new / glob /
# old; 4 x 32K int8 new / glob; --breakdown of new at int8. Every run checks its batch entry against float64.
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
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*(compact_split_kernel|scan_kernel)" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage.txt"
grep -E "compact_split" "$O/ab/res_usage.txt" | awk '{print $2, $3, $4, $5}'
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
  chk mixed-split-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05 --check-batches 3 --cut-split
  chk heads8-b4-split --batch 4 --n 8256 --check-batches 2 --fracs 0.05 --extra heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1 --cut-split
  chk 1x128K-8-split --batch 1 --n 131072 --fracs 0.05 --check-batches 1 --cut-split
  chk 1x128K-4-split --bits 4 --batch 1 --n 131072 --fracs 0.2 --check-batches 1 --cut-split
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "^# cut|FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | cut -c1-200 | head -20
GHOSTKV_SMALL_ROWS="rand8-split rand4-split mixed-split-b3" GHOSTKV_SANITIZE_BUDGET_S=110 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
  timeout -k 5 125 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 520 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# breakdown|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local bin=.gpu_carry/gb_new x=(); [ "$a" != glob ] && x=(--cut-split); [ "$a" = old ] && bin=.gpu_carry/gb_old
         abrun $bin --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${x[@]}"; }
  for a in glob new old new glob; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in new glob old; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in new glob old; do ab $a "1x128K-mixed" --batch 1 --n 131072 --bits mixed; done
  for a in new glob; do ab $a "4x32K-8" --batch 4 --n 32768 --bits 8; done
  ab new "1x128K-8-bd" --batch 1 --n 131072 --bits 8 --breakdown --reps 20
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^# cut|^# breakdown|^forced|^certified|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-300
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
