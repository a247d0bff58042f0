#!/usr/bin/env python3
"""Re-derives two byte counts of a gpu_bench.csv written by the bench of ef3ee59 (or earlier).

  scripts/gpu_fix_anchor_bytes.py RAW.csv OUT.csv

1. With anchors, compact reads the bounds of every token, those of the pages the anchors eliminated
   included (it takes their page bound instead, but the loads are made); the byte model counted the
   bounds of the scanned pages only. stage1_bytes gains (all_pages − pages_read)·64·G·2 bytes, and
   stage1_vs_floor and ghost_vs_floor scale by the old floor over the new one. all_pages =
   B·Hkv·⌈n/64⌉ (every sequence of a random-data case has n_kv tokens; the eliminated pages are full
   pages: the last page holds hot tokens); pages_read = pages_read_frac·all_pages rounded to a page
   (the CSV keeps 5 decimals: at most one page, 64·G·2 bytes, off at 32 × 32K). Rows with
   pages_read_frac 1 (every capture row) are unchanged.
2. dense_bytes counted the partial states of the row's ghost split count (`splits`), while dense runs
   with one wave: the case's fewest splits. dense_bytes loses B·Hq·(splits − fewest)·(d + 2)·8 and
   dense_vs_floor scales by the old over the new.
Every other column is kept. d is 64 for the d-64 cases (check-d64-*, SmolLM2 captures), else 128.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_csv_fix import head_dim, rewrite, set_stage1_bytes  # noqa: E402


def fix(rows):
    fewest = {}
    for r in rows:
        if r.get("splits"):
            fewest[r["case"]] = min(fewest.get(r["case"], 1 << 30), int(r["splits"]))
    for r in rows:
        b, n, hq, hkv = int(r["batch"]), int(r["n_kv"]), int(r["n_head_q"]), int(r["n_head_kv"])
        frac = float(r.get("pages_read_frac") or 1)
        if r.get("anchors") == "1" and frac < 1:
            all_pages = b * hkv * ((n + 63) // 64)
            extra = (all_pages - round(frac * all_pages)) * 64 * (hq // hkv) * 2
            set_stage1_bytes(r, float(r["stage1_bytes"]) + extra)
        if r.get("splits") and int(r["splits"]) > fewest[r["case"]]:
            over = b * hq * (int(r["splits"]) - fewest[r["case"]]) * (head_dim(r["case"]) + 2) * 8
            dn_old = float(r["dense_bytes"])
            r["dense_bytes"] = "%.0f" % (dn_old - over)
            r["dense_vs_floor"] = "%.3f" % (float(r["dense_vs_floor"]) * dn_old / (dn_old - over))


if __name__ == "__main__":
    sys.exit(rewrite(__doc__, fix))
