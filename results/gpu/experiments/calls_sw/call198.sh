#!/usr/bin/env bash
# GhostCache::last_step and the float64 step check (kernels/check64.h) on a GPU: the cache GTests (the append test now
# checks every ghost step's detail: bounds, the mass given up, the list), the Python module's tests and
# gpu_python_check.py with the detail checks, a cache grown over real captures against caches built at once
# (scripts/gpu_capture_grow.py), generate --gpu on ghostkv-ref-23m counting bound violations and the mass given up, and
# the CLI contract test with the GPU present. At the commit in COMMIT; one H200; output under $OUT.
# The tree travels without results/ (the size limit): nothing here reads it.
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
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
nvidia-smi -L
echo "commit $(cat .gpu_carry/COMMIT); unpacked in $(( $(date +%s) - t0 )) s"
run() { local lim=$1 until=$2; shift 2
        [ $(( $(date +%s) - t0 )) -lt "$until" ] || { echo "skipped (time): $*"; return 0; }
        echo "+ $* $(date +%T)"; timeout -k 5 "$lim" "$@"; echo "rc=$? $(( $(date +%s) - t0 )) s"; }
(
  run 60 300 $B/ghostkv_cuda_cache_tests
  run 90 300 compute-sanitizer --tool memcheck $B/ghostkv_cuda_cache_tests --gtest_filter=CudaCache.Append*
  run 120 330 python3 tests/scripts/test_gpu_python.py .gpu_carry/py
  run 150 360 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py --grow
) > "$OUT/tests.txt" 2>&1
grep -E "^\+|^rc=|OK \]|FAILED|SKIPPED|ERROR SUMMARY|grown cache|past the capacity|gpu_python_check|test_gpu_python|rror|skipped" "$OUT/tests.txt" | cut -c1-220
P="$(xz -dc .gpu_carry/austen_persuasion.txt.xz | head -c 14000)"
M=/tmp/shared/models/ghostkv-ref-23m
(
  run 120 420 $B/ghostkv generate --model $M --prompt "$P" --max-new 64 --eliminate mass:1e-3 --gpu --compare-dense \
      --stats-csv "$OUT/gpu_decode_b8.csv"
  run 120 460 $B/ghostkv generate --model $M --prompt "$P" --max-new 64 --eliminate mass:1e-3 --gpu --bits 4 \
      --compare-dense --stats-csv "$OUT/gpu_decode_b4.csv"
  run 150 480 python3 tests/cli/test_cli.py $B/ghostkv
) > "$OUT/generate.txt" 2>&1
grep -E "^\+|^rc=|elimination|dense generation|cli contract|SKIP|FAIL|rror|skipped" "$OUT/generate.txt" | cut -c1-600
C=/tmp/x/captures
(
  run 120 540 python3 scripts/gpu_capture_grow.py $C/ghostkv-ref-23m-austen_persuasion-aff2d7534d28 --lib-dir .gpu_carry/py
  run 120 560 python3 scripts/gpu_capture_grow.py $C/ghostkv-ref-23m-austen_persuasion-aff2d7534d28 --lib-dir .gpu_carry/py --bits 4
  run 120 570 python3 scripts/gpu_capture_grow.py $C/SmolLM2-135M-Instruct.Q4_1.gguf-austen_persuasion-9e41cd264062 --lib-dir .gpu_carry/py
) > "$OUT/capture_grow.txt" 2>&1
grep -E "^\+|^rc=|^layer [0-9]+:|gpu_capture_grow|FAIL|rror|skipped" "$OUT/capture_grow.txt" | cut -c1-300
echo "total $(( $(date +%s) - t0 )) s"
