#!/usr/bin/env python3
"""Re-derives the stage-1 byte floor of a gpu_bench.csv written before the bench counted the hot keys
as prep reads them.

  scripts/gpu_fix_hot_bytes.py RAW.csv OUT.csv

Until 255ce1c the bench's byte model counted the hot keys (4 sink + 64 recent per sequence) as 256
bytes per query head, while prep reads each hot key row (d·2 bytes) once per KV head. The stage-1
floor was then too high by Hkv·hot·(256·G − 2d) bytes (13.4 MB at 32 × 32K, G 4, d 128: about 1.8% of
int4's stage 1), so stage1_vs_floor and ghost_vs_floor read low. This rewrites stage1_bytes and scales
those two ratios by the old floor over the new one (stage 1 + stage 2 bytes for the step); every other
column is kept. hot = 68 per sequence (every sequence of the bench is longer than 68 tokens); d is 64 for the
d-64 cases (check-d64-*, SmolLM2 captures), else 128.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_csv_fix import head_dim, rewrite, set_stage1_bytes  # noqa: E402


def fix(rows):
    for r in rows:
        b, hq, hkv = int(r["batch"]), int(r["n_head_q"]), int(r["n_head_kv"])
        over = hkv * 68 * b * (256 * (hq // hkv) - 2 * head_dim(r["case"]))
        set_stage1_bytes(r, float(r["stage1_bytes"]) - over)


if __name__ == "__main__":
    sys.exit(rewrite(__doc__, fix))
