#!/usr/bin/env bash
# The split cut's compact with the KV head's theta rows in shared memory (e133b97, "new") against per-page loads from
# L2 (665643a, "old"; call152: at 1 x 128K int8 certified, where every token of the random inputs survives, the split
# cut gained 0.3 us against the one cut, at 5% forced 4.1). initcheck on the split rows (the host copy of the unwritten
# theta rows fixed); same-call runs at 1 x 128K int8, 5% and certified: glob (new binary, one cut), split new,
# split old, split new, glob; int4 split new / glob; then --breakdown (stage 1's kernel prefixes) of glob and split new.
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
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage .gpu_carry/gb_new 2>&1 | grep -A1 -E "Function .*compact_kernel" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/ab/res_usage_compact.txt"
grep -E "Lb1ELb1EEEvNS0" "$O/ab/res_usage_compact.txt" | awk '{print $2, $3, $4, $5}'
GHOSTKV_SANITIZE_TOOLS=initcheck GHOSTKV_SMALL_ROWS="rand8-split rand4-split mixed-split-b3" GHOSTKV_SANITIZE_BUDGET_S=60 GHOSTKV_SANITIZE_ROW_S=40 OUT=/tmp/san \
  timeout -k 5 75 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "initcheck rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize \|ERROR SUMMARY" /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize_initcheck.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 500 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# breakdown|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local bin=.gpu_carry/gb_new x=(); [ "$a" != glob ] && x=(--cut-split); [ "$a" = splitold ] && bin=.gpu_carry/gb_old
         abrun $bin --device "$dev" --commit "$cm-$a" --csv "$O/ab/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${x[@]}"; }
  for a in glob split splitold split glob; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in split glob; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in glob split; do ab $a "1x128K-8-bd" --batch 1 --n 131072 --bits 8 --breakdown --reps 20; done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^# cut|^# breakdown|^forced|^certified|FAIL|rc=|skipped" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-400
echo "checks passed: $(grep -c 'all checks passed' "$O/ab/stdout.txt"), runs: $(grep -c '^+ ' "$O/ab/stdout.txt")"
echo "total $(( $(date +%s) - t0 )) s"
