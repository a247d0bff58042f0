#!/usr/bin/env bash
# The split cut in every quant scan build (the 8-warp builds of G 1-3 and d 64 too; commit in COMMIT, compact after the
# whole scan as e133b97). Checks of the small rows with and without it and compute-sanitizer's four tools on the
# 8-warp split rows (G 3 / d 64, G 2); the real captures (ref23m layers 1, 4, 7: G 2, d 128; SmolLM2 layers 1, 15:
# G 3, d 64), 8 query positions each, int8, one cut ("glob") and split, every check against float64 (their survivor
# fractions side by side); then 1 x 128K with the split cut at forced 1 / 5 / 20 / 100% and certified for int8, int4
# and mixed, and int8 with one cut in the same call. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r" /tmp/san
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*(compact_kernel|scan_kernel)" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/r/res_usage.txt"
echo "split scan builds: $(grep -cE 'Lb0ELi2ELi1EEEv' "$O/r/res_usage.txt"), with stack or local > 0: $(grep -E 'Lb0ELi2ELi1EEEv' "$O/r/res_usage.txt" | grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0')"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
  chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
  chk mixed-split-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05 --check-batches 3 --cut-split
  chk g3-d64-4-split --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk g2-8-split --hq 16 --hkv 8 --batch 2 --n 3000 --fracs 0.05,1 --check-batches 2 --cut-split
  chk g1-mixed-split --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 --cut-split
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "^# cut|FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head -20
GHOSTKV_SMALL_ROWS="g3-d64-4-split g2-8-split" GHOSTKV_SANITIZE_BUDGET_S=90 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
  timeout -k 5 105 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      for a in glob split; do
        x=(); [ "$a" = split ] && x=(--cut-split)
        echo "+ $(basename "$cap") L$l $a $(date +%T)"
        timeout -k 5 60 $b --device "$dev" --commit "$cm-$a" --csv "$O/r/captures.csv" --mode capture --capture "$cap" --layer "$l" --bits 8 \
          --queries 8 --reps 5 --fracs 1 --name "$(basename "$cap")-L$l-b8" "${x[@]}" 2>&1 | grep -E "^# cut|^certified|checks|FAIL|rror"
        echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
      done
    done
  done
) > "$O/r/captures.txt" 2>&1
grep -E "^\+|^# cut|^certified|FAIL|rc=[1-9]" "$O/r/captures.txt" | cut -c1-200
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  run1() { [ $(( $(date +%s) - t0 )) -lt 540 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# dense|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  for w in 8 4 mixed; do
    run1 $b --device "$dev" --commit "$cm-split" --csv "$O/r/main128k.csv" --name "1x128K-$w" --batch 1 --n 131072 --bits $w --reps 30 --check-batches 1 --fracs 0.01,0.05,0.2,1 --cut-split
  done
  run1 $b --device "$dev" --commit "$cm-glob" --csv "$O/r/main128k.csv" --name "1x128K-8" --batch 1 --n 131072 --bits 8 --reps 30 --check-batches 1 --fracs 0.01,0.05,0.2,1
) > "$O/r/main128k.txt" 2>&1
grep -E "^\+|^# cut|^forced|^certified|FAIL|rc=|skipped" "$O/r/main128k.txt" | sed -E 's/--device .* --name //' | cut -c1-220
echo "total $(( $(date +%s) - t0 )) s"
