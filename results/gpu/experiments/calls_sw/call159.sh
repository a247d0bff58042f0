#!/usr/bin/env bash
# The split cut's in-scan compaction, three walks (GHOSTKV_SPLIT_COMPACT: 1 batches of 2 segments a warp as 8c83df6,
# 2 batches of 4, 3 batches of 4 with the first batch's bounds prefetched into the L1 during the cut; the binary's
# default 3) and the compact kernel after the scan (0). res-usage of the scan builds; checks of the split small rows
# under each walk; compute-sanitizer's four tools on the split rows (default walk); same-call runs at 1 x 128K (5%
# forced and certified) for int8, int4 and mixed; --breakdown of walk 3; then walk 3 at forced 1 / 5 / 20 / 100% and
# certified for the three witnesses. One H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r" /tmp/san
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*scan_kernel" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/r/res_usage.txt"
echo "split scan builds compacting: $(grep -cE 'Lb0ELi2ELi1ELi[1-6]EEEv' "$O/r/res_usage.txt"), with stack or local > 0: $(grep -E 'Lb0ELi2ELi1ELi[1-6]EEEv' "$O/r/res_usage.txt" | grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0')"
grep -E 'ILi4ELi128E.*ELi16ELi1ELb0ELi2ELi1ELi[0-6]EEEv' "$O/r/res_usage.txt" | sed -E 's/.*ILi4ELi128ELi([0-9])ELi1ELi16ELi1ELb0ELi2ELi1ELi([0-6])EEEv\S* /K8=\1 SC=\2 /'
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "^# cut|^# GHOST|checks|FAIL|rror" | head -5; echo "rc=${PIPESTATUS[0]}"; }
  for sc in 3 2 1; do
    export GHOSTKV_SPLIT_COMPACT=$sc
    chk rand8-split --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
    chk rand4-split --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
    chk mixed-split-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05 --check-batches 3 --cut-split
    chk g3-d64-4-split --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
    chk g2-8-split --hq 16 --hkv 8 --batch 2 --n 3000 --fracs 0.05,1 --check-batches 2 --cut-split
    chk odd-split --batch 3 --n 2999 --fracs 0.05,1 --check-batches 3 --cut-split --poison
    chk 1x32K-split --batch 1 --n 32768 --fracs 0.05,1 --check-batches 1 --cut-split
  done
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 470 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^# cut|^# GHOST|^# breakdown|^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2
         GHOSTKV_SPLIT_COMPACT=$a abrun $b --device "$dev" --commit "$cm-sc$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 --fracs 0.05 "$@" --cut-split; }
  for a in 3 1 2 3 1 2; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8; done
  for a in 3 1 2 3; do ab $a "1x128K-4" --batch 1 --n 131072 --bits 4; done
  for a in 3 1 2; do ab $a "1x128K-mixed" --batch 1 --n 131072 --bits mixed; done
  for w in 8 4; do ab 3 "1x128K-$w-bd" --batch 1 --n 131072 --bits $w --breakdown --reps 20; done
  for w in 8 4 mixed; do
    GHOSTKV_SPLIT_COMPACT=3 abrun $b --device "$dev" --commit "$cm-sc3" --csv "$O/main128k.csv" --name "1x128K-$w" --batch 1 --n 131072 --bits $w --reps 30 --check-batches 1 --fracs 0.01,0.05,0.2,1 --cut-split
  done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^# breakdown|^forced|^certified|FAIL|rc=|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-240
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
