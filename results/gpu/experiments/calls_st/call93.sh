#!/usr/bin/env bash
# attend_steal_kernel's costs apart: same-call runs of GHOSTKV_ATTEND_STEAL=0, and =1 with claims of 2 or 8 warp tiles
# (GHOSTKV_STEAL_CHUNK) and GHOSTKV_STEAL_MIN 1e9 (no block joins another KV head: the per-warp claims alone), 600 or 1200
# rows: on the small steal-heads row (4 × 8 KV heads of very different counts, one split) and on 32 × 32K low-rank with
# anchors at 1 / 5%, every row checked against float64 first. One H200; everything under $OUT as written.
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
  abrun() { [ $(( $(date +%s) - t0 )) -lt 330 ] || { echo "skipped (time): $*"; return 0; }; echo "+ $* $(date +%T)"; timeout -k 5 90 "$@" 2>&1 | grep -E "^forced|^certified|checks|FAIL|rror|heads \(|^# dense"; echo "rc=${PIPESTATUS[0]} $(( $(date +%s) - t0 )) s"; }
  big=(--batch 32 --n 32768 --distinct 4 --reps 20 --check-batches 1)
  heads="heads=0.02/0.9/0.3/0.6/0.05/0.95/0.4/0.1"
  for v in "0 2 1" "1 2 1000000000" "1 8 1000000000" "1 8 600" "1 2 600"; do
    set -- $v
    abrun env GHOSTKV_ATTEND_STEAL=$1 GHOSTKV_STEAL_CHUNK=$2 GHOSTKV_STEAL_MIN=$3 $b --device "$dev" --commit "$cm-s$1-c$2-m$3" --csv "$O/ab/ab.csv" --name "s$1-c$2-m$3-steal-heads" --batch 4 --n 8256 --reps 10 --check-batches 4 --splits 1 --fracs 0.05,1 --extra "$heads"
  done
  for v in "0 2 1" "1 2 1000000000" "1 8 1000000000" "1 8 600" "1 2 600" "1 8 1200" "0 2 1" "1 8 1000000000" "1 8 600" "1 8 1200"; do
    set -- $v
    abrun env GHOSTKV_ATTEND_STEAL=$1 GHOSTKV_STEAL_CHUNK=$2 GHOSTKV_STEAL_MIN=$3 $b --device "$dev" --commit "$cm-s$1-c$2-m$3" --csv "$O/ab/ab.csv" --name "s$1-c$2-m$3-32x32K-lowrank-anc" --bits lowrank --anchors "${big[@]}" --fracs 0.01,0.05
  done
) > "$O/ab/stdout.txt" 2>&1
grep -E "^\+|^forced|^certified|checks|FAIL|rc=" "$O/ab/stdout.txt" | sed -E 's/--device .* --name //' | cut -c1-200 | tail -60
el=$(( $(date +%s) - t0 ))
if false; then
  mkdir -p "$O/san"
  OUT="$O/san" GHOSTKV_SANITIZE_BUDGET_S=$(( 540 - el )) GHOSTKV_SANITIZE_ROW_S=120 GHOSTKV_SMALL_ROWS="steal-heads8 steal-heads8-ready rand8-ready-fin" \
    timeout -k 5 $(( 560 - el )) bash scripts/gpu_bench.sh sanitize > "$O/san/stdout.txt" 2>&1
  tail -12 "$O/san/stdout.txt"
fi
tar -C "$O" -cJf "$O/call93.tar.xz" ab $( [ -d "$O/san" ] && echo san ) && rm -rf "$O/ab" "$O/san"
echo "total $(( $(date +%s) - t0 )) s"
