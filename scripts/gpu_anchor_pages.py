#!/usr/bin/env python3
"""Pages the anchor stage gave up in a `ghostkv generate --gpu --anchors page --stats-csv` run, recovered from its
kv_bytes_frac (the hook's byte count, kernels/gpu_hook.cc: per KV head the codes of the pages read, every page's box,
bound and meta, the attended tokens' K and V, the rotation and μ) and attended_frac.

  scripts/gpu_anchor_pages.py CSV N_HEAD_KV D G CODE_BYTES

Prints, over the file's rows (one per decode step and layer), the pages given up per row (summed over the KV heads):
the smallest, the largest and how many rows gave up at least one. The recovered count is exact up to the CSV's six
digits (a fraction of a page).
"""
import csv
import math
import sys


def main():
    if len(sys.argv) != 6:
        print(__doc__.strip().splitlines()[4].strip(), file=sys.stderr)
        return 2
    path, hkv, d, g, cb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    gone = []
    for r in csv.DictReader(open(path)):
        n = int(r["n_kv"])
        pages = math.ceil(n / 64)
        total = float(r["kv_bytes_frac"]) * hkv * n * 2 * d * 2
        attended = float(r["attended_frac"]) * n * hkv  # Σ over KV heads of the tokens attended
        rest = total - attended * 2 * d * 2 - hkv * (pages * 2 * d * 2 + d * d * 4 + d * 4) - hkv * pages * (2 * d + 2 * g)
        gone.append(hkv * pages - rest / (64 * cb))
    if not gone:
        print(f"gpu_anchor_pages: {path} has no rows", file=sys.stderr)
        return 1
    print(f"{path}: {len(gone)} rows; pages given up per row (all KV heads): {min(gone):.3f} .. {max(gone):.3f}; "
          f"rows with at least one: {sum(x > 0.5 for x in gone)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
