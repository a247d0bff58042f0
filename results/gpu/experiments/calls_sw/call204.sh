#!/usr/bin/env bash
# GhostCache with the low-rank witness (bits "lowrank") on a GPU: the cache GTests (append, refit and page anchors with
# lowrank beside the quantised witnesses; the device-mismatch refusal where two GPUs are visible) and the anchors test
# under memcheck, the Python tests (gpu_python_check.py --grow --anchors --bits lowrank among them), gpu_python_check.py
# at 32 × 8 × 128 over 32768 tokens with lowrank (with and without anchors), generate --gpu --witness lowrank on
# ghostkv-ref-23m (without and with page anchors), the CLI contract test with the GPU, and gpu_capture_grow.py --bits
# lowrank on ref23m layer 4 and SmolLM2 layer 15. At the commit in COMMIT; output under $OUT. The tree travels without
# results/ (the size limit): nothing here reads it.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p .gpu_carry/py /tmp/ghostkv_lib /tmp/x
tar -C /tmp/x -xJf .gpu_carry/bins.tar.xz
tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
tar -C /tmp -xJf .gpu_carry/shared.tar.xz
tar -C /tmp/x -xJf .gpu_carry/captures.tar.xz
cp /tmp/x/bins/libghostkv_gpu.so python/ghostkv_gpu.py .gpu_carry/py/
B=/tmp/x/bins
[ -e ../shared ] || ln -s /tmp/shared ../shared || echo "no ../shared link: the CLI test will skip its model checks"
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" OMP_NUM_THREADS=16
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT); unpacked in $(( $(date +%s) - t0 )) s"
run() { local lim=$1 until=$2; shift 2
        [ $(( $(date +%s) - t0 )) -lt "$until" ] || { echo "skipped (time): $*"; return 0; }
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run 90 200 $B/ghostkv_cuda_cache_tests   # every GPU visible: RefusesAnotherDevice needs two
  export CUDA_VISIBLE_DEVICES=0
  run 120 220 compute-sanitizer --tool memcheck $B/ghostkv_cuda_cache_tests --gtest_filter=CudaCache.Anchors*
  run 150 260 python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run 120 300 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --bits lowrank
  run 120 330 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --bits lowrank --anchors
) > "$OUT/tests.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|SKIPPED|ERROR SUMMARY|attended|all checks|test_gpu_python|rror|skipped" "$OUT/tests.txt" | cut -c1-220
export CUDA_VISIBLE_DEVICES=0
P="$(xz -dc .gpu_carry/austen_persuasion.txt.xz | head -c 14000)"
M=/tmp/shared/models/ghostkv-ref-23m
(
  run 120 400 $B/ghostkv generate --model $M --prompt "$P" --max-new 64 --eliminate mass:1e-3 --gpu --witness lowrank \
      --compare-dense --stats-csv "$OUT/gpu_decode_lr.csv"
  run 120 440 $B/ghostkv generate --model $M --prompt "$P" --max-new 64 --eliminate mass:1e-3 --gpu --witness lowrank \
      --anchors page --compare-dense --stats-csv "$OUT/gpu_decode_lr_anc.csv"
  run 150 480 python3 tests/cli/test_cli.py $B/ghostkv
) > "$OUT/generate.txt" 2>&1
grep -E "^\+|^rc=|elimination|dense generation|cli contract|generate --gpu|SKIP|FAIL|rror|skipped" "$OUT/generate.txt" | cut -c1-600
C=/tmp/x/captures
(
  run 100 520 python3 scripts/gpu_capture_grow.py $C/ghostkv-ref-23m-austen_persuasion-aff2d7534d28 --lib-dir .gpu_carry/py --bits lowrank
  run 100 540 python3 scripts/gpu_capture_grow.py $C/SmolLM2-135M-Instruct.Q4_1.gguf-austen_persuasion-9e41cd264062 --lib-dir .gpu_carry/py --bits lowrank
  run 100 560 python3 scripts/gpu_capture_grow.py $C/ghostkv-ref-23m-austen_persuasion-aff2d7534d28 --lib-dir .gpu_carry/py --bits lowrank --anchors
) > "$OUT/capture_grow.txt" 2>&1
grep -E "^\+|^rc=|gpu_capture_grow|^layer|FAIL|rror|skipped" "$OUT/capture_grow.txt" | cut -c1-300
echo "total $(( $(date +%s) - t0 )) s"
