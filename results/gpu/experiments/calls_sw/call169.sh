#!/usr/bin/env bash
# The split cut's compacting scan walking each warp's own pages with its first batch's bounds copied into its page
# buffer by cp.async right after its page loop, before the block's barrier and cut (GHOSTKV_SPLIT_COMPACT=3, walk 2,
# with GHOSTKV_SPLIT_PRE=1: arm ownpre; call168 held them in registers and spilled), against the default walk (base:
# GHOSTKV_SPLIT_COMPACT=2, pre 0). One binary (commit in COMMIT). Checks of the split rows with walk 2 (pre 0 and 1,
# one with the timeline on); the split timeline (GHOSTKV_SPLIT_TL=1) at 1 x 128K int4, 5%, both arms; same-call runs at
# 1 x 128K for int4 and mixed (5% forced and certified) and int8 (1 / 5 / 20% forced and certified). One H200;
# everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
arm_env() {
  case "$1" in
    base) export GHOSTKV_SPLIT_COMPACT=2 GHOSTKV_SPLIT_PRE=0 ;;
    own) export GHOSTKV_SPLIT_COMPACT=3 GHOSTKV_SPLIT_PRE=0 ;;
    ownpre) export GHOSTKV_SPLIT_COMPACT=3 GHOSTKV_SPLIT_PRE=1 ;;
  esac
}
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"; mkdir -p "$O/r"
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
cu="$(command -v cuobjdump || ls /usr/local/cuda*/bin/cuobjdump 2>/dev/null | head -1)"
[ -n "$cu" ] && "$cu" -res-usage "$b" 2>&1 | grep -A1 -E "Function .*scan_kernel" | grep -v "^--" | paste - - \
  | sed -E 's/Function ([^ :]*).*(REG:[0-9]+) (STACK:[0-9]+) (SHARED:[0-9]+) (LOCAL:[0-9]+).*/\1 \2 \3 \4 \5/' > "$O/r/res_usage.txt"
echo "split compacting scan builds (SC 1-6): $(grep -cE 'Lb0ELi2ELi1ELi[1-6]EEEv' "$O/r/res_usage.txt"), with stack or local > 0: $(grep -E 'Lb0ELi2ELi1ELi[1-6]EEEv' "$O/r/res_usage.txt" | grep -cvE 'STACK:0 SHARED:[0-9]+ LOCAL:0')"
grep -E 'ILi4ELi128E.*Lb0ELi2ELi1ELi[1-6]EEEv' "$O/r/res_usage.txt" | awk '{print $1, $2, $3, $4, $5}' | sed -E 's/.*scan_kernel//' | sort | uniq -c
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_COMPACT=3 GHOSTKV_SPLIT_PRE=0
  chk() { local nm=$1; shift; echo "+ check $nm $*"; timeout -k 5 60 $b --device "$dev" --commit "$cm" --csv "$O/r/checks.csv" --name "$nm" --check-only --reps 1 "$@" 2>&1 | grep -E "checks|FAIL|rror" | head -6; echo "rc=${PIPESTATUS[0]}"; }
  chk rand8-split-own --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split-own --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
  chk mixed-split-own-b3 --bits mixed --batch 3 --n 3000 --fracs 0.05,1 --check-batches 3 --cut-split
  chk g3-d64-4-split-own --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk g2-8-split-own --hq 16 --hkv 8 --batch 2 --n 5000 --fracs 0.05,1 --check-batches 2 --cut-split
  chk g1-mixed-split-own --hq 8 --hkv 8 --bits mixed --batch 2 --n 3000 --fracs 0.2 --check-batches 2 --cut-split
  GHOSTKV_SPLIT_TL=1 chk rand8-split-own-tl --batch 2 --n 4160 --fracs 0.05,1 --check-batches 2 --cut-split
  export GHOSTKV_SPLIT_PRE=1
  chk rand8-split-ownpre --batch 2 --n 4160 --fracs 0.05,1 --poison --check-batches 2 --cut-split
  chk rand4-split-ownpre --bits 4 --batch 2 --n 4160 --fracs 0.2 --check-batches 2 --cut-split
  chk g3-d64-4-split-ownpre --d 64 --hq 24 --hkv 8 --bits 4 --batch 2 --n 3000 --fracs 0.05 --check-batches 2 --cut-split
  chk g2-8-split-ownpre --hq 16 --hkv 8 --batch 2 --n 5000 --fracs 0.05,1 --check-batches 2 --cut-split
) > "$O/r/checks.txt" 2>&1
echo "checks: $(grep -c 'all checks passed' "$O/r/checks.txt") passed of $(grep -c '^+ check' "$O/r/checks.txt"), $(( $(date +%s) - t0 )) s"
grep -E "FAIL|rror|rc=[1-9]" "$O/r/checks.txt" | cut -c1-200 | head
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16 GHOSTKV_SPLIT_TL=1
  for w in 4; do
    for a in base ownpre; do
      arm_env $a
      echo "+ timeline b$w $a"
      timeout -k 5 90 $b --device "$dev" --commit "$cm-tl" --name "1x128K-$w-tl" --batch 1 --n 131072 --bits $w \
        --reps 10 --check-batches 1 --fracs 0.05 --cut-split 2>&1 | grep -E "^# split|^forced|^certified|FAIL|rror"
    done
  done
) > "$O/timeline.txt" 2>&1
cut -c1-500 "$O/timeline.txt"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  abrun() { [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  ab() { local a=$1 nm=$2; shift 2; arm_env $a
         abrun $b --device "$dev" --commit "$cm-$a" --csv "$O/ab.csv" --name "$nm" --reps 30 --check-batches 1 "$@" --cut-split; }
  for w in 4 mixed; do
    for a in base ownpre ownpre base; do ab $a "1x128K-$w" --batch 1 --n 131072 --bits $w --fracs 0.05; done
  done
  for a in base ownpre ownpre base; do ab $a "1x128K-8" --batch 1 --n 131072 --bits 8 --fracs 0.01,0.05,0.2; done
) > "$O/ab_stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|FAIL|rc=[1-9]|skipped" "$O/ab_stdout.txt" | sed -E 's/--device .* --commit //' | cut -c1-200
tar -C "$O" -cJf "$O/r.tar.xz" r && rm -rf "$O/r"
echo "total $(( $(date +%s) - t0 )) s"
