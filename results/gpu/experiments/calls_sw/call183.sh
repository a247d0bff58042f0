#!/usr/bin/env bash
# AdaptiveDecoder through a change of the survivor fraction on the GPU (gpu_bench --adaptive-phases): forced 5%, then
# 100% (elimination collapses), then 5% again, 400 steps each, with reset_on_flip (the default since this build: a
# decisive observation replaces the averages) and without it (--adaptive-no-reset, the rule of calls 177-182). 1 x 128K
# int8 and int4 and 32 x 32K int8; each run's own rows (forced 5%, certified) also run the 200-step loops of earlier
# calls. One binary (commit in COMMIT); one H200; everything under $OUT.
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
        echo "+ $* $(date +%T)"; timeout -k 5 150 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
A=(--device "$dev" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive.csv" --adaptive-phases-csv "$OUT/phases.csv"
   --adaptive-steps 400 --adaptive-phases 0.05,1,0.05 --reps 5 --check-batches 1 --fracs 0.05)
(
  for arm in reset noreset; do
    x=(); [ $arm = noreset ] && x=(--adaptive-no-reset)
    run 300 $b "${A[@]}" --commit "$cm-$arm" "${x[@]}" --name 1x128K-b8 --batch 1 --n 131072
    run 330 $b "${A[@]}" --commit "$cm-$arm" "${x[@]}" --name 1x128K-b4 --bits 4 --batch 1 --n 131072
    run 360 $b "${A[@]}" --commit "$cm-$arm" "${x[@]}" --name 32x32K-b8 --batch 32 --n 32768 --distinct 4
  done
) > "$OUT/bench.txt" 2>&1
grep -E "^\+|^rc=|^# adaptive|^# phase|^# dense|FAIL|rror|skipped" "$OUT/bench.txt" | cut -c1-400
echo "total $(( $(date +%s) - t0 )) s"
