"""Shared by the scripts that re-derive byte counts of a recorded gpu_bench.csv (gpu_fix_hot_bytes.py,
gpu_fix_anchor_bytes.py): the RAW.csv OUT.csv command line, the head dimension of a case, and the
stage-1 floor change with the two ratios it scales. Every column a script does not rewrite is kept."""
import csv
import sys


def head_dim(case):
    """d of a bench case: 64 for the d-64 cases (check-d64-*, SmolLM2 captures), else 128."""
    return 64 if case.startswith("check-d64") or "smollm2" in case.lower() else 128


def set_stage1_bytes(r, s1):
    """Stage 1 moves s1 bytes: stage1_vs_floor and ghost_vs_floor scale by the old floor over the new
    (the bench's own unrounded times stay in them)."""
    s1_old, s2 = float(r["stage1_bytes"]), float(r["stage2_bytes"])
    r["stage1_bytes"] = "%.0f" % s1
    r["stage1_vs_floor"] = "%.3f" % (float(r["stage1_vs_floor"]) * s1_old / s1)
    r["ghost_vs_floor"] = "%.3f" % (float(r["ghost_vs_floor"]) * (s1_old + s2) / (s1 + s2))


def rewrite(doc, fix):
    """`SCRIPT RAW.csv OUT.csv`: fix(rows) rewrites the rows of RAW in place; OUT gets them, same columns."""
    if len(sys.argv) != 3:
        print(next(l.strip() for l in doc.splitlines() if l.strip().startswith("scripts/")))
        return 2
    rows = list(csv.DictReader(open(sys.argv[1])))
    fields = list(rows[0].keys()) if rows else []
    fix(rows)
    with open(sys.argv[2], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print("%d rows rewritten into %s" % (len(rows), sys.argv[2]))
    return 0
