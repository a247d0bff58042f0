#!/usr/bin/env bash
# Configure and build (Release) into $GHOSTKV_BUILD (default build/).
set -euo pipefail
source "$(dirname "$0")/env.sh"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S "$GHOSTKV_ROOT" -B "$GHOSTKV_BUILD" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$GHOSTKV_BUILD/_install" >/dev/null
cmake --build "$GHOSTKV_BUILD" -j"$(nproc)"
