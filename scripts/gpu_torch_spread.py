#!/usr/bin/env python3
"""torch SDPA's time over the recorded GPU runs: how far apart the allocations of the device were.

  scripts/gpu_torch_spread.py [CSV ...]   (default: results/gpu/gpu_torch.csv, results/gpu/experiments/full_*_gpu_torch.csv
                                           and results/gpu/experiments/*/gpu_torch.csv)

Each gpu_torch.csv (scripts/gpu_bench.sh) holds torch SDPA's time at 1 x 128K and 32 x 32K for one run, i.e. one
allocation of the device. Prints the runs sorted by their 32 x 32K time, then groups them: consecutive runs (in that
order) whose times differ by less than --gap (relative, default 0.01) at both shapes fall in one group. For each group:
its runs, its range at each shape and how far its median lies from the next group's.
"""
import argparse
import csv
import glob
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = ("1x131072", "32x32768")


def read_run(path):
    """{shape: torch_ms} of one gpu_torch.csv, and its commit label."""
    rows = list(csv.DictReader(open(path)))
    t = {}
    for r in rows:
        try:
            t[r["case"]] = float(r["torch_ms"])
        except (KeyError, TypeError, ValueError):
            raise SystemExit("%s: not a gpu_torch.csv row (case, torch_ms): %r" % (path, r))
    missing = [s for s in SHAPES if s not in t]
    if missing:
        raise SystemExit("%s: no torch time for %s (cases: %s)" % (path, ", ".join(missing), ", ".join(sorted(t))))
    for s in SHAPES:
        if not t[s] > 0:
            raise SystemExit("%s: torch time %r at %s is not positive" % (path, t[s], s))
    return t, (rows[0].get("commit") or "?")


def default_paths():
    exp = os.path.join(ROOT, "results", "gpu", "experiments")
    paths = [os.path.join(ROOT, "results", "gpu", "gpu_torch.csv")]
    paths += sorted(glob.glob(os.path.join(exp, "full_*_gpu_torch.csv")))
    paths += sorted(glob.glob(os.path.join(exp, "*", "gpu_torch.csv")))
    return [p for p in paths if os.path.exists(p)]


def label(path):
    rel = os.path.relpath(path, ROOT)
    return rel.replace("results/gpu/experiments/", "experiments/")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="*")
    ap.add_argument("--gap", type=float, default=0.01)
    a = ap.parse_args(argv)
    paths = a.csv or default_paths()
    if not paths:
        raise SystemExit("no gpu_torch.csv found")
    runs = []
    for p in paths:
        t, commit = read_run(p)
        runs.append((t[SHAPES[1]], t[SHAPES[0]], commit, label(p)))
    runs.sort()
    print("%d runs (torch SDPA ms: 1 x 128K, 32 x 32K), sorted by 32 x 32K:" % len(runs))
    for t32, t1, commit, name in runs:
        print("  %.4f  %.4f  %-8s %s" % (t1, t32, commit, name))
    groups = [[runs[0]]]
    for r in runs[1:]:
        prev = groups[-1][-1]
        if r[0] / prev[0] - 1 < a.gap and abs(r[1] / prev[1] - 1) < a.gap:
            groups[-1].append(r)
        else:
            groups.append([r])
    print("groups (next run within %.1f%% at both shapes):" % (100 * a.gap))
    meds = [(statistics.median(r[1] for r in g), statistics.median(r[0] for r in g)) for g in groups]
    for i, g in enumerate(groups):
        t1 = [r[1] for r in g]
        t32 = [r[0] for r in g]
        line = "  %d runs: 1 x 128K %.4f-%.4f, 32 x 32K %.4f-%.4f (median %.4f / %.4f)" % (
            len(g), min(t1), max(t1), min(t32), max(t32), meds[i][0], meds[i][1])
        if i + 1 < len(groups):
            line += "; the next group's median %+.1f%% / %+.1f%%" % (100 * (meds[i + 1][0] / meds[i][0] - 1),
                                                                     100 * (meds[i + 1][1] / meds[i][1] - 1))
        print(line)
        print("    " + ", ".join(r[2] for r in g))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
