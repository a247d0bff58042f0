#!/usr/bin/env bash
# The early scan (--scan-early, DecodeParams::scan_early, with the split cut): each scan block computes its own query
# factors and stores its bounds in the frame m_S = qμ + ||σq||·kc_norm_max, waiting for prep only at its cut. One
# binary (commit in COMMIT). res-usage of the scan builds; checks of the early rows (small shapes, d 64, G 1-3, a
# partial last page, poison; GHOSTKV_PREP_ROWS=1); the real captures with the split cut and with the early scan;
# same-call runs at 1 x 128K (5% forced and certified) for int8, int4 and mixed: split, early, early with one prep
# block per KV head (early1), and that with 15 scan blocks per KV head instead of 16 (early15: GHOSTKV_SPLIT_CHUNKS=15,
# 120 scan blocks beside prep's 8); compute-sanitizer on three early rows. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r" /tmp/san
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*scan_kernel" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/r/res_usage.txt"
echo "early scan builds: $(grep -cE 'Lb0ELi2ELi1ELi[34]ELb1EEEv' "$O/r/res_usage.txt"), with stack or local > 0: $(grep -E 'Lb0ELi2ELi1ELi[34]ELb1EEEv' "$O/r/res_usage.txt" | grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0')"
grep -E 'ILi4ELi128E.*Lb0ELi2ELi1ELi[34]E(Lb1E)?EEv' "$O/r/res_usage.txt" | awk '{print $2, $3, $4, $5}' | sort | uniq -c
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|^# scan|checks|FAIL|rror" | head -6; echo "rc=${PIPESTATUS[0]}"; }
  e=(--cut-split --scan-early)
  chk rand8-split-early --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
  chk rand4-split-early --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 "${e[@]}"
  chk mixed-split-early-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05,1 --check-batches 3 "${e[@]}"
  chk g3-d64-4-split-early --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 "${e[@]}"
  chk g2-8-split-early --hq 16 --hkv 8 --batch 2 --n 3000 --fracs 0.05,1 --check-batches 2 "${e[@]}"
  chk g1-mixed-split-early --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 "${e[@]}"
  chk odd-split-early --batch 3 --n 2999 --fracs 0.05,1 --check-batches 3 --poison "${e[@]}"
  GHOSTKV_PREP_ROWS=1 chk rand8-split-early-prep1 --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 "${e[@]}"
  chk rand8-early-no-split --batch 2 --n 4160 --fracs 0.05,1 --check-batches 2 --scan-early
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "^# cut|^# scan|FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | sort | uniq -c | head -20
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  for cap in .gpu_carry/captures/*; do
    for l in $(python3 -c "import json,sys; print(' '.join(str(l) for l in json.load(open(sys.argv[1]+'/manifest.json'))['layers']))" "$cap"); do
      for a in split early; do
        [ $(( $(date +%s) - t0 )) -lt 200 ] || { echo "skipped (time): $cap $l $a"; continue; }
        x=(--cut-split); [ "$a" = early ] && x+=(--scan-early)
        echo "+ $(basename "$cap") L$l $a $(date +%T)"
        timeout -k 5 60 $b --device "$dev" --commit "$cm-$a" --csv "$O/r/captures.csv" --mode capture --capture "$cap" --layer "$l" --bits 8 \
          --queries 8 --reps 5 --fracs 1 --name "$(basename "$cap")-L$l-b8" "${x[@]}" 2>&1 | grep -E "^# cut|^# scan|^certified|checks|FAIL|rror"
        echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"
      done
    done
  done
) > "$O/r/captures.txt" 2>&1
grep -E "^\+|^certified|FAIL|rc=[1-9]|skipped" "$O/r/captures.txt" | cut -c1-200
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 480 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# scan|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; local x=(--cut-split); [ "$a" != split ] && x+=(--scan-early)
         if [ "$a" = early1 ] || [ "$a" = early15 ]; then export GHOSTKV_PREP_ROWS=1; else unset GHOSTKV_PREP_ROWS; fi
         if [ "$a" = early15 ]; then export GHOSTKV_SPLIT_CHUNKS=15; else unset GHOSTKV_SPLIT_CHUNKS; fi
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" "${x[@]}"; }
  for w in 4 mixed; do
    for a in split early early1 early15 split early early1 early15; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w; done
  done
  for a in split early early1 early15; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^# scan|^forced|^certified|FAIL|rc=|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-300
if [ $(( $(date +%s) - t0 )) -lt 470 ]; then
  GHOSTKV_SMALL_ROWS="rand8-split-early mixed-split-early-b3 g3-d64-4-split-early" GHOSTKV_SANITIZE_BUDGET_S=$(( 580 - ($(date +%s) - t0) - 10 )) \
    GHOSTKV_SANITIZE_ROW_S=40 OUT=/tmp/san timeout -k 5 $(( 580 - ($(date +%s) - t0) )) bash scripts/gpu_bench.sh sanitize > /tmp/san/stdout.txt 2>&1
  echo "sanitize rc=$? $(( $(date +%s) - t0 )) s"
  grep -h "^sanitize " /tmp/san/sanitize_*.txt | cut -c1-160
  tar -C /tmp -cJf "$O/sanitize.tar.xz" san
else
  echo "sanitize skipped (time)"
fi
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
