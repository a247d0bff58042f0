#!/usr/bin/env bash
# Prepares .gpu_carry/ (git-ignored) for a device run: the GPU bench built here (sm_90a + PTX), the
# CPU bench (when $CPU_BENCH names one), the shared libraries they need beyond the device image
# (xz-compressed: the tree that travels is limited to 64 MiB), and real captures in bf16.
#   scripts/gpu_carry.sh [BUILD_DIR] [CAPTURE_DIR[:L1,L2,...]...]   (default: every layer)
# The device then runs scripts/gpu_bench.sh with `.gpu_carry` in carry.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-cuda}"
shift || true
source "$root/scripts/env.sh"
cmake --build "$build" --target ghostkv_gpu_bench -j2 >/dev/null
grep -qx '/.gpu_carry/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu_carry/' >>"$root/.git/info/exclude"
out="$root/.gpu_carry"
rm -rf "$out" && mkdir -p "$out/lib" "$out/captures"
cp "$build/kernels/ghostkv_gpu_bench" "$out/"
if [ -n "${CPU_BENCH:-}" ]; then cp "$CPU_BENCH" "$out/ghostkv_bench"; fi
for l in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libgomp.so.1 liblzma.so.5; do
  cp -L "$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64/ {print $NF; exit}')" "$out/lib/$l"
done
tar -C "$out" -cJf "$out/lib.tar.xz" lib && rm -rf "$out/lib"
# captures: float32 npy -> bf16 (<u2, docs/formats.md), every layer present in each capture dir; numpy from
# the first python3 that has it (a python3 earlier on PATH, e.g. pyenv's, may lack it; Debian's has it)
py=python3
if [ "$#" -gt 0 ] && ! python3 -c "import numpy" 2>/dev/null; then
  py=/usr/bin/python3
  "$py" -c "import numpy" 2>/dev/null || { echo "gpu_carry.sh: no python3 with numpy (scripts/setup.sh installs python3-numpy)" >&2; exit 1; }
fi
for spec in "$@"; do
  cap="${spec%%:*}"; layers=""
  [ "$cap" != "$spec" ] && layers="${spec#*:}"
  name="$(basename "$cap")"
  "$py" - "$cap" "$out/captures/$name" "$layers" <<'PY'
import json, os, shutil, sys
import numpy as np
src, dst, only = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(dst, exist_ok=True)
man = json.load(open(os.path.join(src, "manifest.json")))
man["dtype"] = "bfloat16"
if only:
    man["layers"] = [int(x) for x in only.split(",")]
json.dump(man, open(os.path.join(dst, "manifest.json"), "w"))
for layer in man["layers"]:
    ld = "layer_%02d" % layer
    os.makedirs(os.path.join(dst, ld), exist_ok=True)
    for a in ("q", "k", "v"):
        x = np.load(os.path.join(src, ld, a + ".npy")).astype(np.float32)
        u = x.view(np.uint32).astype(np.uint64)
        bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        np.save(os.path.join(dst, ld, a + ".npy"), bits)
    shutil.copy(os.path.join(src, ld, "positions.npy"), os.path.join(dst, ld, "positions.npy"))
PY
done
du -sh "$out"
