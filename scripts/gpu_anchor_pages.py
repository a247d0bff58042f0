#!/usr/bin/env python3
"""Pages the anchor stage gave up in a `ghostkv generate --gpu --anchors page --stats-csv` run, recovered from its
kv_bytes_frac (the hook's byte count, kernels/gpu_hook.cc: per KV head the witness of the pages read (codes, or the
low-rank sketch: 36 bytes per token), every page's box, bound, meta (quantised witness) and ν_max, the attended tokens'
K and V, the rotation and μ) and attended_frac.

  scripts/gpu_anchor_pages.py CSV N_HEAD_KV D G WITNESS [--without-nu]

WITNESS: 8, 4, mixed (8 bits on the first 32 components) or lowrank. --without-nu: a CSV written before the count
included each page's ν_max (4 bytes; the runs up to call203).
Prints, over the file's rows (one per decode step and layer), the pages given up per row (summed over the KV heads):
the smallest, the largest and how many rows gave up at least one. The recovered count is exact up to the CSV's six
digits (a fraction of a page).
"""
import csv
import math
import sys


def main():
    args = [a for a in sys.argv[1:] if a != "--without-nu"]
    if len(args) != 5 or args[4] not in ("8", "4", "mixed", "lowrank"):
        print(__doc__.strip().splitlines()[5].strip(), file=sys.stderr)
        return 2
    path, hkv, d, g, wit = args[0], int(args[1]), int(args[2]), int(args[3]), args[4]
    nu = 0 if "--without-nu" in sys.argv[1:] else 4
    tok = 36 if wit == "lowrank" else d if wit == "8" else d // 2 if wit == "4" else 32 + (d - 32) // 2
    page = (0 if wit == "lowrank" else 2 * d * 2) + nu + (80 if wit == "lowrank" else 2 * d) + 2 * g  # meta, ν, box, bound
    gone = []
    for r in csv.DictReader(open(path)):
        n = int(r["n_kv"])
        pages = math.ceil(n / 64)
        total = float(r["kv_bytes_frac"]) * hkv * n * 2 * d * 2
        attended = float(r["attended_frac"]) * n * hkv  # Σ over KV heads of the tokens attended
        rest = total - attended * 2 * d * 2 - hkv * (pages * page + d * d * 4 + d * 4)
        gone.append(hkv * pages - rest / (64 * tok))
    if not gone:
        print(f"gpu_anchor_pages: {path} has no rows", file=sys.stderr)
        return 1
    print(f"{path}: {len(gone)} rows; pages given up per row (all KV heads): {min(gone):.3f} .. {max(gone):.3f}; "
          f"rows with at least one: {sum(x > 0.5 for x in gone)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
