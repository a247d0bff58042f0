#!/usr/bin/env bash
# The full run's first half for the tree where prep writes the certificate's budget and m_L (no cut writes them) and
# Certificate has no padding: every check row (gpu_bench.sh quick, the real captures among them: ref23m layers 1, 4, 7 at
# 4096 tokens, SmolLM2 layers 1, 15 at 8192) into $OUT/quick; then compute-sanitizer's initcheck over the example (4096
# tokens, 90% far, 8 adaptive steps; call187 found 64 reads of unwritten certificate bytes there: its struct padding),
# and the Python module's test with the GPU present. One H200.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
[ -f .gpu_carry/captures.tar.xz ] && tar -C .gpu_carry -xJf .gpu_carry/captures.tar.xz
xz -dc .gpu_carry/bench.xz > .gpu_carry/ghostkv_gpu_bench && chmod +x .gpu_carry/ghostkv_gpu_bench
xz -dc .gpu_carry/example.xz > .gpu_carry/ghostkv_gpu_example && chmod +x .gpu_carry/ghostkv_gpu_example
mkdir -p /tmp/ghostkv_lib && tar -C /tmp/ghostkv_lib -xJf .gpu_carry/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi -L
mkdir -p "$OUT/quick"
OUT="$OUT/quick" timeout -k 10 360 bash scripts/gpu_bench.sh quick > /dev/null 2>&1
echo "quick rc=$? $(( $(date +%s) - t0 )) s"
echo "runs: $(grep -c '^+ ' "$OUT/quick/log.txt"), passed: $(grep -c 'all checks passed' "$OUT/quick/log.txt")"
grep -E "FAILED|stopping|rror" "$OUT/quick/log.txt" | head -10
export CUDA_VISIBLE_DEVICES=0
e=.gpu_carry/ghostkv_gpu_example
if [ $(( $(date +%s) - t0 )) -lt 420 ]; then
  timeout 100 compute-sanitizer --tool initcheck $e 4096 0.9 8 > "$OUT/initcheck.txt" 2>&1
  echo "initcheck rc=$? $(( $(date +%s) - t0 )) s"
  grep -E "adaptive|every|FAILED|SUMMARY" "$OUT/initcheck.txt" | cut -c1-250
fi
if [ $(( $(date +%s) - t0 )) -lt 450 ] && [ -f .gpu_carry/libghostkv_gpu.so.xz ]; then
  mkdir -p .gpu_carry/py && xz -dc .gpu_carry/libghostkv_gpu.so.xz > .gpu_carry/py/libghostkv_gpu.so && cp python/ghostkv_gpu.py .gpu_carry/py/
  ( timeout 60 python3 tests/scripts/test_gpu_python.py .gpu_carry/py; echo "rc=$?"
    timeout 60 python3 scripts/gpu_python_check.py --lib-dir .gpu_carry/py; echo "rc=$?" ) > "$OUT/python.txt" 2>&1
  echo "python $(( $(date +%s) - t0 )) s"; grep -E "^rc=|every|gpu_python_check|test_gpu_python|FAIL|rror" "$OUT/python.txt" | cut -c1-220
fi
xz -9 "$OUT/quick/log.txt"
echo "total $(( $(date +%s) - t0 )) s"
