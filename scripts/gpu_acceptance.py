#!/usr/bin/env python3
"""The GPU path's acceptance criteria (docs/gpu.md, "What met the targets"), computed from a recorded run.

  scripts/gpu_acceptance.py [DIR]      (DIR holds gpu_bench.csv and gpu_torch.csv; default results/gpu)
  scripts/gpu_acceptance.py --against OLD [DIR]   (OLD: a run's directory or its gpu_bench.csv, e.g.
                                                  results/gpu/experiments/full_<commit>_gpu_bench.csv)

Prints a markdown table: correctness over every row; for the main shapes (cases 1x128K-*, 32x32K-*),
each phase that moves at least 64 MB within 1.3× of its byte floor (stage 1, stage 2), the whole ghost
step within 1.3× of its floor, the adaptive path within 1.15× of torch SDPA, and the best speed against
torch at 5% forced survivors next to the 8× moonshot. A row is met when its ratio, rounded to the
CSV's three decimals, is at most the bound. Each row not met is listed with its ratio and how far its time is above
the bound in µs (its time less the bound times its floor, the floor being its time over its ratio); the moonshot's
line gives the best row's step and the step that 8× would need (torch's time / 8). With --against, it prints instead the main-shape rows in both
runs whose phase or step changes side of its 1.3× bound from OLD's run to DIR's (each with both ratios), for
the rows of two runs that sit close to a bound.
"""
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_BYTES = 64e6


def short(label):
    if label.startswith("forced:"):
        return "%g%%" % (float(label.split(":")[1]) * 100)
    return label.replace("real:", "")


CRITERIA = (("stage 1", "stage1_vs_floor", "stage1_bytes"), ("stage 2", "stage2_vs_floor", "stage2_bytes"),
            ("step", "ghost_vs_floor", None))
TIME = {"stage1_vs_floor": "stage1_ms", "stage2_vs_floor": "stage2_ms", "ghost_vs_floor": "ghost_ms"}


def over_us(r, field, bound=1.3):
    """How far the row's time is above bound × its floor, in µs (negative: below)."""
    t = float(r[TIME[field]]) * 1000
    return t - bound * t / float(r[field])


def met(r, field, byte_field, bound=1.3):
    """None where the criterion does not judge the row (a phase under 64 MB), else whether it is met."""
    if byte_field is not None and float(r[byte_field]) < MIN_BYTES:
        return None
    return round(float(r[field]), 3) <= bound


def table(rows, torch):
    main = [r for r in rows if r["case"].startswith(("1x128K", "32x32K"))]
    tms = {(int(r["batch"]), int(r["n_kv"])): float(r["torch_ms"]) for r in torch}
    L = ["| criterion | case | rows | range | met | not met (rows) |", "|---|---|---|---|---|---|"]
    viol = sum(int(r["violations"]) for r in rows)
    fails = sum(int(r[k]) for r in rows for k in ("rule_fail", "cert_fail", "num_fail", "nonfinite"))
    L.append(f"| 0 bound violations, 0 failures | all {len(rows)} rows | {len(rows)} | {viol} violations, {fails} failures | "
             f"{'yes' if viol == 0 and fails == 0 else 'no'} | |")
    cases = []
    for r in main:
        if r["case"] not in cases:
            cases.append(r["case"])

    for title, (_, field, byte_field) in zip(("stage 1 ≤ 1.3× floor (≥ 64 MB)", "stage 2 ≤ 1.3× floor (≥ 64 MB)",
                                              "step ≤ 1.3× floor"), CRITERIA):
        for c in cases:
            rs = [r for r in main if r["case"] == c and met(r, field, byte_field) is not None]
            if not rs:
                continue
            v = [float(r[field]) for r in rs]
            bad = [f"{short(r['label'])} {r[field]} (+{over_us(r, field):.1f} µs)" for r in rs if not met(r, field, byte_field)]
            L.append(f"| {title} | {c} | {len(rs)} | {min(v):.3f}-{max(v):.3f} | "
                     f"{'all' if not bad else ('none' if len(bad) == len(rs) else 'partly')} | {', '.join(bad)} |")
    worst, at = 0.0, ""
    for r in main:
        t = tms.get((int(r["batch"]), int(r["n_kv"])))
        if t and float(r["adaptive_ms"]) / t > worst:
            worst, at = float(r["adaptive_ms"]) / t, f"{r['case']} {short(r['label'])}"
    L.append(f"| adaptive ≤ 1.15× torch SDPA | {len(main)} rows | {len(main)} | worst {worst:.3f} ({at}) | "
             f"{'yes' if round(worst, 3) <= 1.15 else 'no'} | |")
    best, at, step, need = 0.0, "", 0.0, 0.0
    for r in main:
        t = tms.get((int(r["batch"]), int(r["n_kv"])))
        if t and r["label"].startswith("forced:") and abs(float(r["label"].split(":")[1]) - 0.05) < 1e-9:
            if t / float(r["ghost_ms"]) > best:
                best, at, step, need = t / float(r["ghost_ms"]), r["case"], float(r["ghost_ms"]) * 1000, t * 1000 / 8
    L.append(f"| moonshot ≥ 8× torch at 5% forced | {at} | | best {best:.2f}× (step {step:.1f} µs; 8× needs ≤ {need:.1f}) | "
             f"{'yes' if best >= 8 else 'no'} | |")
    return "\n".join(L) + "\n"


def flips(old_rows, new_rows):
    """Lines `case | label | criterion | old ratio (met / not met) -> new ratio (...)` for every main-shape row of
    both runs whose criterion is judged in both and met in one only; in the new run's row order."""
    old = {(r["case"], r["label"]): r for r in old_rows}
    out = []
    for r in new_rows:
        o = old.get((r["case"], r["label"]))
        if o is None or not r["case"].startswith(("1x128K", "32x32K")):
            continue
        for name, field, byte_field in CRITERIA:
            a, b = met(o, field, byte_field), met(r, field, byte_field)
            if a is not None and b is not None and a != b:
                word = lambda m: "met" if m else "not met"  # noqa: E731
                out.append(f"{r['case']} | {short(r['label'])} | {name} | {o[field]} ({word(a)}) -> {r[field]} ({word(b)})")
    return out


def main():
    args = sys.argv[1:]
    if args[:1] == ["--against"]:
        if len(args) < 2:
            print("gpu_acceptance.py: --against needs the older run (its directory or its gpu_bench.csv)", file=sys.stderr)
            return 2
        old_dir, args = args[1], args[2:]
        d = args[0] if args else os.path.join(ROOT, "results", "gpu")
        old_csv = old_dir if old_dir.endswith(".csv") else os.path.join(old_dir, "gpu_bench.csv")
        old = list(csv.DictReader(open(old_csv)))
        new = list(csv.DictReader(open(os.path.join(d, "gpu_bench.csv"))))
        lines = flips(old, new)
        print("\n".join(lines) if lines else "no row changes side of a 1.3× bound")
        return 0
    d = args[0] if args else os.path.join(ROOT, "results", "gpu")
    rows = list(csv.DictReader(open(os.path.join(d, "gpu_bench.csv"))))
    tp = os.path.join(d, "gpu_torch.csv")
    torch = list(csv.DictReader(open(tp))) if os.path.exists(tp) else []
    print(table(rows, torch), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
