#!/usr/bin/env bash
# Configure and build (Release) into $GHOSTKV_BUILD (default build/).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cmake -S "$GHOSTKV_ROOT" -B "$GHOSTKV_BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$GHOSTKV_BUILD/_install" >/dev/null
cmake --build "$GHOSTKV_BUILD" -j"$(nproc)"
