#!/usr/bin/env bash
# generate --gpu on SmolLM2-135M-Instruct (Q4_1 GGUF, G 3, d_head 64), int8 witness, with each step's detail read back
# (bound violations and the mass given up counted), at the commit in COMMIT: the GGUF's first part, the binaries and
# the shared libraries from /tmp/keep (call201, same warm machine), the rest from this call's .gpu_carry. One H200;
# output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
mkdir -p /tmp/ghostkv_lib /tmp/models /tmp/y
cat /tmp/keep/smol_part00 .gpu_carry/smol_part01 .gpu_carry/smol_part02 > /tmp/models/smollm2.gguf
echo "gguf sha256 $(sha256sum /tmp/models/smollm2.gguf | cut -c1-64) (expected $(cat .gpu_carry/SHA))"
tar -C /tmp/y -xJf /tmp/keep/bins.tar.xz
tar -C /tmp/ghostkv_lib -xJf /tmp/keep/lib.tar.xz
export LD_LIBRARY_PATH="/tmp/ghostkv_lib/lib:${LD_LIBRARY_PATH:-}" CUDA_VISIBLE_DEVICES=0 OMP_NUM_THREADS=16
echo "commit $(cat .gpu_carry/COMMIT)"
P="$(xz -dc .gpu_carry/austen_persuasion.txt.xz | head -c 32500)"
( echo "+ generate --gpu int8 $(date +%T)"
  timeout -k 5 480 /tmp/y/bins/ghostkv generate --model /tmp/models/smollm2.gguf --prompt "$P" --max-new 64 \
    --eliminate mass:1e-3 --gpu --compare-dense --stats-csv "$OUT/gpu_decode_smollm2_b8.csv"
  echo "rc=$? $(( $(date +%s) - t0 )) s" ) > "$OUT/generate_smollm2.txt" 2>&1
grep -E "^\+|^rc=|elimination|dense generation|rror" "$OUT/generate_smollm2.txt" | cut -c1-450
echo "total $(( $(date +%s) - t0 )) s"
