#!/usr/bin/env bash
# The first half of SmolLM2-135M-Instruct's GGUF (the carry limit takes it in two calls on one warm machine) and the
# shared libraries, copied to /tmp/keep for call197 (an ignored folder of the tree does not outlast the call).
cd "$(dirname "$0")/.." && mkdir -p /tmp/keep && cp .gpu_m1/* /tmp/keep/ && ls -la /tmp/keep && echo "kept for the next call"
