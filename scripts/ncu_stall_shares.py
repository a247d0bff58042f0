#!/usr/bin/env python3
"""Where a kernel's warps stall, from Nsight Compute's SASS source page exported as CSV.

  scripts/ncu_stall_shares.py SOURCE_CSV[.xz] LOOP_COUNT|@I,J,... [TOP]

SOURCE_CSV comes from `ncu --import REP --page source --print-source sass --csv` (xz-compressed is read
too). Prints the share of "Warp Stall Sampling (All Samples)" before, inside and after the loop (the
instructions executed at least LOOP_COUNT times, e.g. the scan's pages; with @I,J,... the instruction
ranges cut at those indices of the source page instead, for a kernel without a loop), then the TOP (default 10)
instructions by samples, and the totals of excessive global sectors and shared wavefronts. Where the page has
the per-reason columns (stall_*), each part's line also gives its five largest stall reasons (share of the part).
"""
import csv
import io
import lzma
import sys


def num(x):
    try:
        return float(x)
    except ValueError:
        return 0.0


def read_source(path):
    """The source page's columns (name -> index) and instruction rows: those of its first kernel where the page
    holds several (each starts with a "Kernel Name" row and its own header)."""
    text = lzma.open(path, "rt").read() if path.endswith(".xz") else open(path).read()
    rows = list(csv.reader(io.StringIO(text)))
    head = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
    end = next((i for i in range(head + 1, len(rows)) if rows[i] and rows[i][0] == "Kernel Name"), len(rows))
    return {h: i for i, h in enumerate(rows[head])}, rows[head + 1:end]


def reason_shares(ix, part):
    """Each stall reason's share of the part's samples (the page's stall_* columns; empty without them)."""
    reasons = [k for k in ix if k.startswith("stall_") and "Not Issued" not in k]
    by = {k[6:]: sum(num(r[ix[k]]) for r in part) for k in reasons}
    s = sum(by.values()) or 1.0
    return sorted(((k, v / s) for k, v in by.items()), key=lambda kv: -kv[1])


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    path, cuts, loop_count = sys.argv[1], None, 0.0
    if sys.argv[2].startswith("@"):
        cuts = [int(x) for x in sys.argv[2][1:].split(",")]
    else:
        loop_count = float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    ix, data = read_source(path)
    stall, execd = ix["Warp Stall Sampling (All Samples)"], ix["Instructions Executed"]
    total = sum(num(r[stall]) for r in data)
    if cuts is not None:  # instruction ranges [0, c1), [c1, c2), ..., [ck, end) of the source page
        if not total:
            print("no samples")
            return 1
        edges = [0] + cuts + [len(data)]
        parts = {f"instructions {a}-{b - 1}": data[a:b] for a, b in zip(edges, edges[1:])}
    else:
        loop = [i for i, r in enumerate(data) if num(r[execd]) >= loop_count]
        if not loop or not total:
            print("no loop or no samples")
            return 1
        lo, hi = min(loop), max(loop)
        parts = {"before the loop": data[:lo], "in the loop": data[lo:hi + 1], "after the loop": data[hi + 1:]}
    print(f"{int(total)} stall samples")
    for name, part in parts.items():
        line = f"  {name}: {100 * sum(num(r[stall]) for r in part) / total:.1f}%"
        shares = reason_shares(ix, part)[:5]  # the reasons exist in --set full pages
        if shares:
            line += "  (" + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares) + ")"
        print(line)
    print(f"top {top} instructions:")
    for r in sorted(data, key=lambda r: -num(r[stall]))[:top]:
        print(f"  {100 * num(r[stall]) / total:5.1f}%  {r[ix['Address']][-5:]}  {r[ix['Source']].strip()[:70]}")
    for key in ("L2 Theoretical Sectors Global Excessive", "L1 Wavefronts Shared Excessive"):
        if key in ix:
            print(f"{key}: {int(sum(num(r[ix[key]]) for r in data))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
