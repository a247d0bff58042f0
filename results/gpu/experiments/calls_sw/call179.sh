#!/usr/bin/env bash
# What AdaptiveDecoder's observations cost (call178: 4-5 us per step above the better path at 1 x 128K, at
# observe_every 1), and why compute-sanitizer racecheck stopped the example in call178. One binary each of the example
# and the bench (commit in COMMIT; the dense step's certificate kernel now launched with programmatic stream
# serialization, observations at most one in --adaptive-every steps); one H200; everything under $OUT.
#  1. racecheck over the example at 4096 tokens, far share 0.9, 8 adaptive steps, its whole output kept.
#  2. gpu_bench --adaptive-steps 200 at 1 x 128K int8 (forced 1% and 100%, certified) and int4 (forced 1%), and at
#     32 x 32K low-rank with anchors (forced 1%), with --adaptive-every 1, 8 and 32 in turn (one CSV each).
#  3. the example at 131072 tokens, far shares 0.5 and 0.9, 400 adaptive steps (defaults: every 8, lag 4).
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
run 100 compute-sanitizer --tool racecheck $e 4096 0.9 8 > "$OUT/racecheck.txt" 2>&1
tail -25 "$OUT/racecheck.txt"
(
  for ev in 1 8 32; do
    A=(--device "$dev" --commit "$cm-e$ev" --csv "$OUT/gpu_bench.csv" --adaptive-csv "$OUT/adaptive_e$ev.csv" --adaptive-steps 200 --adaptive-every $ev --reps 5 --check-batches 1)
    run 380 $b "${A[@]}" --name 1x128K-b8 --batch 1 --n 131072 --fracs 0.01,1
    run 400 $b "${A[@]}" --name 1x128K-b4 --bits 4 --batch 1 --n 131072 --fracs 0.01
    run 420 $b "${A[@]}" --name 32x32K-lowrank-anc --bits lowrank --anchors --batch 32 --n 32768 --distinct 4 --fracs 0.01
  done
) > "$OUT/bench.txt" 2>&1
grep -E "^\+|^rc=|^# adaptive|FAIL|rror|skipped" "$OUT/bench.txt" | cut -c1-330
(
  for a in "131072 0.5" "131072 0.9"; do run 500 $e $a; done
) > "$OUT/example.txt" 2>&1
grep -E "^\+|^rc=|attended|adaptive|every|FAILED|rror|skipped" "$OUT/example.txt"
echo "total $(( $(date +%s) - t0 )) s"
