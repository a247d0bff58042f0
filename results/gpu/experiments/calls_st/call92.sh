#!/usr/bin/env bash
# attend_steal_kernel (the one-split attend's blocks share a KV head's rows): the steal check rows (small, KV heads of
# very different counts; without and with the ready lists; the old build), then a same-call A/B of
# GHOSTKV_ATTEND_STEAL=0 (attend_kernel's 6-warp build) and =1 on 32 × 32K (low-rank with anchors at 1 / 5%, 0 1 1 0 1 0;
# int8 and int4 with anchors once each), every row checked against float64 first; then compute-sanitizer's four tools
# over the small rows that run the steal kernel. One H200; everything under $OUT as written.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
nvidia-smi -L
O="$OUT"
mkdir -p "$O/ab"
if [ -f .gpu_carry/lib.tar.xz ]; then mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz; fi
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
(
  export CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
  dev="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  cm="$(cat .gpu_carry/COMMIT)"
  b=.gpu_carry/ghostkv_gpu_bench
  abrun() { [ $(( $(date +%s) - t0 )) -lt 400 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|heads \(|^# dense"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  heads="heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
  ck=(--device "$dev" --commit "$cm" --csv "$O/ab/checks.csv")
  abrun $b "${ck[@]}" --name check-steal-heads --batch 4 --n 8256 --reps 3 --check-batches 4 --splits 1 --fracs 0.05,1 --extra "$heads" --poison
  abrun env GHOSTKV_COMPACT_READY=1 $b "${ck[@]}" --name check-steal-heads-ready --batch 4 --n 8256 --reps 3 --check-batches 4 --splits 1 --fracs 0.05 --extra "$heads"
  abrun env GHOSTKV_ATTEND_STEAL=0 $b "${ck[@]}" --name check-steal-heads-off --batch 4 --n 8256 --reps 3 --check-batches 4 --splits 1 --fracs 0.05 --extra "$heads"
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  for v in 0 1 1 0 1 0; do
    abrun env GHOSTKV_ATTEND_STEAL=$v $b --device "$dev" --commit "$cm-s$v" --csv "$O/ab/ab.csv" --name "s$v-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.01,0.05
  done
  for v in 0 1; do
    abrun env GHOSTKV_ATTEND_STEAL=$v $b --device "$dev" --commit "$cm-s$v" --csv "$O/ab/ab.csv" --name "s$v-32x32K-b8" "${big[@]}" --fracs 0.01,0.05
    abrun env GHOSTKV_ATTEND_STEAL=$v $b --device "$dev" --commit "$cm-s$v" --csv "$O/ab/ab.csv" --name "s$v-32x32K-b4-anc" --bits 4 --anchors "${big[@]}" --fracs 0.05
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -60
el=$(( $(date +%s) - t0 ))
if [ $el -lt 420 ]; then
  mkdir -p "$O/san"
  OUT="$O/san" GHOSTKV_SANITIZE_BUDGET_S=$(( 540 - el )) GHOSTKV_SANITIZE_ROW_S=120 GHOSTKV_SMALL_ROWS="steal-heads8 steal-heads8-ready rand8-ready-fin" \
    timeout -k 5 $(( 560 - el )) bash scripts/gpu_bench.sh sanitize > "$O/san/stdout.txt" 2>&1
  tail -12 "$O/san/stdout.txt"
fi
tar -C "$O" -cJf "$O/call92.tar.xz" ab $( [ -d "$O/san" ] && echo san ) && rm -rf "$O/ab" "$O/san"
echo "total $(( $(date +%s) - t0 )) s"
