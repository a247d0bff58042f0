#!/usr/bin/env bash
# AdaptiveDecoder with its defaults after call179: observations at most one in 32 steps of a path (a step that switches
# paths observed whenever its slot is free), the dense certificate kernel letting the next step's first kernel launch.
# gpu_bench --adaptive-steps 200 at 1 x 128K int8 (forced 1% and 100%, certified) and int4 (forced 1%, certified), and
# 32 x 32K low-rank with anchors (forced 1%, certified). One binary (commit in COMMIT); one H200; output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
run() { [ $(( $(date +%s) - t0 )) -lt "$1" ] || { echo "skipped (time): ${*:2}"; return 0; }; shift
        echo "+ $* $(date +%T)"; timeout -k 5 100 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
A=(--device "$dev" --commit "$cm" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive.csv" --adaptive-steps 200 --reps 5 --check-batches 1)
(
  run 100 $b "${A[@]}" --name 1x128K-b8 --batch 1 --n 131072 --fracs 0.01,1
  run 120 $b "${A[@]}" --name 1x128K-b4 --bits 4 --batch 1 --n 131072 --fracs 0.01
  run 140 $b "${A[@]}" --name 32x32K-lowrank-anc --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --fracs 0.01
) > "$OUT/bench.txt" 2>&1
grep -E "^\+|^rc=|^# adaptive|FAIL|rror|skipped" "$OUT/bench.txt" | cut -c1-330
echo "total $(( $(date +%s) - t0 )) s"
