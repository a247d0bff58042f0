#!/usr/bin/env bash
# AdaptiveDecoder's probe budget on the GPU (gpu_bench --adaptive-phases): forced 5%, then 100% (elimination collapses),
# then 5% again, 1200 steps each, with AdaptiveOptions::probe_budget 0.01 (the default since this build: the probe
# interval stops where probes cost 1% of a dense step) and 0 (--adaptive-probe-budget 0: the doubling alone, up to 1024,
# the rule of calls 177-186). 1 x 128K int8 and int4 and 32 x 32K int8. Then compute-sanitizer's synccheck and initcheck
# over the example (4096 tokens, 90% far, 8 adaptive steps: dense steps writing their certificates from dense's last
# kernel). One binary (commit in COMMIT); one H200; everything under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
dev="$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1 | tr ',' ';')"
cm="$(cat .gpu_carry/COMMIT)"
b=.gpu_carry/ghostkv_gpu_bench
e=.gpu_carry/ghostkv_gpu_example
run() { [ $(( $(date +%s) - t0 )) -lt "$1" ] || { echo "skipped (time): ${*:2}"; return 0; }; shift
        echo "+ $* $(date +%T)"; timeout -k 5 150 "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
A=(--device "$dev" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive.csv" --adaptive-phases-csv "$OUT/phases.csv"
   --adaptive-steps 1200 --adaptive-phases 0.05,1,0.05 --reps 5 --check-batches 1 --fracs 0.05)
(
  for arm in b01 b0; do
    x=(); [ $arm = b0 ] && x=(--adaptive-probe-budget 0)
    run 300 $b "${A[@]}" --commit "$cm-$arm" "${x[@]}" --name 1x128K-b8 --batch 1 --n 131072
    run 330 $b "${A[@]}" --commit "$cm-$arm" "${x[@]}" --name 1x128K-b4 --bits 4 --batch 1 --n 131072
    run 360 $b "${A[@]}" --commit "$cm-$arm" "${x[@]}" --name 32x32K-b8 --batch 32 --n 32768 --distinct 4
  done
) > "$OUT/bench.txt" 2>&1
grep -E "^\+|^rc=|^# adaptive phases|^# phase|FAIL|rror|skipped" "$OUT/bench.txt" | cut -c1-300
(
  run 420 compute-sanitizer --tool synccheck $e 4096 0.9 8
  run 480 compute-sanitizer --tool initcheck $e 4096 0.9 8
) > "$OUT/sanitize.txt" 2>&1
grep -E "^\+|^rc=|adaptive|every|FAILED|SUMMARY|rror|skipped" "$OUT/sanitize.txt" | cut -c1-300
xz -9 "$OUT/bench.txt"
echo "total $(( $(date +%s) - t0 )) s"
