#!/usr/bin/env python3
"""Stage 1 of each row of gpu_bench CSVs, arm by arm: its time, its ratio to its byte floor, the step's, the survivors.

  scripts/stage1_rows.py CSV [CSV ...]

Rows are grouped by case and arm (the last '-' field of the commit column, as the calls_sw scripts write
`--commit COMMIT-ARM`; a commit without one is arm '-') in the order they appear. Per row: the label, the survivor
fraction, stage 1 in µs, stage1_vs_floor with the floor it implies (stage 1 / the ratio) and 1.3× that floor,
ghost_vs_floor (the step) and the bound violations; then per case and arm the
range of stage1_vs_floor over its rows and how many are ≤ 1.3 (the criterion of docs/gpu.md). A file that lacks one of
the columns, or holds a value that is not a number, is refused naming the file, the row and the column.
"""
import collections
import csv
import sys

COLS = ("commit", "case", "label", "surv_frac", "stage1_ms", "stage1_vs_floor", "ghost_vs_floor", "violations")


def rows(path):
    try:
        f = open(path, newline="")
    except OSError as e:
        raise SystemExit(f"stage1_rows.py: {path}: {e.strerror}")
    with f:
        r = csv.DictReader(f)
        miss = [c for c in COLS if c not in (r.fieldnames or [])]
        if miss:
            raise SystemExit(f"stage1_rows.py: {path}: no column {', '.join(miss)}")
        for i, row in enumerate(r, start=2):
            out = dict(row)
            for c in COLS[3:]:
                try:
                    out[c] = float(row[c])
                except (TypeError, ValueError):
                    raise SystemExit(f"stage1_rows.py: {path}: row {i}: {c} is {row[c]!r}, not a number")
            commit = row["commit"]
            out["arm"] = commit.rsplit("-", 1)[1] if "-" in commit else "-"
            yield out


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    groups = collections.OrderedDict()
    for path in sys.argv[1:]:
        for r in rows(path):
            groups.setdefault((r["case"], r["arm"]), []).append(r)
    for (case, arm), rs in groups.items():
        print(f"{case} [{arm}]")
        for r in rs:
            floor = r["stage1_ms"] * 1000 / r["stage1_vs_floor"] if r["stage1_vs_floor"] > 0 else float("nan")
            print(f"  {r['label']:<18} surv {r['surv_frac']:.4f}  stage1 {r['stage1_ms'] * 1000:7.2f} us  "
                  f"{r['stage1_vs_floor']:.3f}x floor ({floor:.2f} us; 1.3x {1.3 * floor:.2f})  step {r['ghost_vs_floor']:.3f}x  "
                  f"violations {int(r['violations'])}")
        v = [r["stage1_vs_floor"] for r in rs]
        print(f"  stage 1: {min(v):.3f}-{max(v):.3f}x its floor, {sum(x <= 1.3 for x in v)} of {len(v)} rows <= 1.3x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
