#!/usr/bin/env bash
# Builds and runs every test: the GoogleTest suite, the CLI contract tests (numpy as an independent
# reader), and the installed CMake package consumed by examples/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$GHOSTKV_ROOT/scripts/build.sh"
cd "$GHOSTKV_BUILD"
ctest --output-on-failure -j"$(nproc)" "$@"
