#!/usr/bin/env bash
# The split cut's scan blocks compacting their own pages after their cuts (scan_split_compact; "sc", the default with
# --cut-split) against the compact kernel after the whole scan (GHOSTKV_SPLIT_COMPACT=0, "split0") and the one cut
# ("glob"), one binary (commit in COMMIT). res-usage of the scan builds; checks of the split small rows both ways;
# compute-sanitizer's four tools on the split rows; same-call runs at 1 x 128K (5% forced and certified) for int8,
# int4 and mixed; --breakdown of sc; the real captures with sc. One H200; everything under $OUT.
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
echo "split scan builds compacting: $(grep -cE 'Lb0ELi2ELi1ELi[12]EEEv' "$O/r/res_usage.txt"), with stack or local > 0: $(grep -E 'Lb0ELi2ELi1ELi[12]EEEv' "$O/r/res_usage.txt" | grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0')"
grep -E 'ILi4ELi128E.*Lb0ELi2ELi1ELi[012]EEEv' "$O/r/res_usage.txt" | awk '{print $2, $3, $4, $5}' | sort | uniq -c
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  for sc in 1 0; do
    export GHOSTKV_SPLIT_COMPACT=$sc
    chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
    chk rand4-split --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
    chk mixed-split-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05 --check-batches 3 --cut-split
    chk g3-d64-4-split --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
    chk g2-8-split --hq 16 --hkv 8 --batch 2 --n 3000 --fracs 0.05,1 --check-batches 2 --cut-split
    chk g1-mixed-split --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 --cut-split
    chk odd-split --batch 3 --n 2999 --fracs 0.05,1 --check-batches 3 --cut-split --poison
  done
  unset GHOSTKV_SPLIT_COMPACT
  chk rand8 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "^# cut|FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | sort | uniq -c | head -20
GHOSTKV_SMALL_ROWS="rand8-split rand4-split mixed-split-b3 g3-d64-4-split g2-8-split" GHOSTKV_SANITIZE_BUDGET_S=110 GHOSTKV_SANITIZE_ROW_S=60 OUT=/tmp/san \
  timeout -k 5 125 bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
tar -C /tmp -cJf "$O/sanitize.tar.xz" san
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 480 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# breakdown|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local x=(--cut-split) sc=1; [ "$a" = glob ] && x=(); [ "$a" = split0 ] && sc=0
         GHOSTKV_SPLIT_COMPACT=$sc abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${x[@]}"; }
  for a in sc split0 sc split0; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in sc split0 sc; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in sc split0 sc; do ab $a "1x128K-mixed" --batch 1 --n 131072 --bits mixed; done
  for w in 8 4 mixed; do ab sc "1x128K-$w-bd" --batch 1 --n 131072 --bits $w --breakdown --reps 20; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^# cut|^# breakdown|^forced|^certified|FAIL|rc=|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-300
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      [ $(( $(date +%s) - t0 )) -lt 560 ] || { echo "skipped (time): $cap $l"; continue; }
      echo "+ $(basename "$cap") L$l sc $(date +%T)"
      timeout -k 5 60 $b --device "$dev" --commit "$cm-sc" --csv "$O/r/captures.csv" --mode capture --capture "$cap" --layer "$l" --bits 8 \
        --queries 8 --reps 5 --fracs 1 --name "$(basename "$cap")-L$l-b8" --cut-split 2>&1 | grep -E "^# cut|^certified|checks|FAIL|rror"
      echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
    done
  done
) > "$O/r/captures.txt" 2>&1
grep -E "^\+|^# cut|^certified|FAIL|rc=[1-9]|skipped" "$O/r/captures.txt" | cut -c1-200
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
