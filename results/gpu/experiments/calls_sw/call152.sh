#!/usr/bin/env bash
# The split cut (DecodeParams::cut_split, gpu_bench --cut-split; 665643a): each of a KV head's scan blocks cuts its own
# candidates against its share of the budget, no global histogram, last block or global cut. Resource usage of the new
# builds; checks of the small rows with and without it (every check against float64); compute-sanitizer's four tools
# on the split rows; then same-call pairs of the same binary, one cut per KV head ("glob") against the split cut
# ("split"): 1 x 128K int8 at 5% and certified in orders glob split split glob, int4 and mixed split glob, 4 x 32K int8
# glob split. Every timed run checks its batch entry against float64. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/ab" /tmp/san
dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*(compact_kernel|scan_kernel)" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage.txt"
echo "res usage: $(wc -l < "$O/ab/res_usage.txt") kernels; with stack or local > 0: $(grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0' "$O/ab/res_usage.txt")"
grep -E "Li2ELi1EEEv|Lb1ELb1ELb1EEEv" "$O/ab/res_usage.txt" | awk '{print $2, $3, $5}' | sort | uniq -c
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
  chk mixed-split-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05 --check-batches 3 --cut-split
  chk g3-d64-4-split --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk anc8-split --anchors --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk 1x128K-8-split --batch 1 --n 131072 --fracs 0.05 --check-batches 1 --cut-split
) > "$O/ab/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/ab/checks.txt") passed of $(grep -c '^+ check' "$O/ab/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "^\+|^# cut|FAIL|rror|rc=[1-9]" "$O/ab/checks.txt" | cut -c1-200 | head -30
GHOSTKV_SMALL_ROWS="rand8-split rand4-split mixed-split-b3" GHOSTKV_SANITIZE_BUDGET_S=130 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
  timeout -k 5 145 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
grep -hE "Hazard|Invalid|Error|error" /tmp/san/sanitize_*.txt | sort | uniq -c | head -10
tar -C /tmp -cJf "$O/sanitize.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 530 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 60 "$@" 2>&1 | grep -E "^# cut|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local x=(); [ "$a" = split ] && x=(--cut-split)
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${x[@]}"; }
  for a in glob split split glob; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in split glob; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in split glob; do ab $a "1x128K-mixed" --batch 1 --n 131072 --bits mixed; done
  for a in glob split; do ab $a "4x32K-8" --batch 4 --n 32768 --bits 8; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^# cut|^forced|^certified|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-220
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
