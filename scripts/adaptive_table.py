#!/usr/bin/env python3
"""The library's adaptive fallback (AdaptiveDecoder) per bench row: a markdown table and its worst cases.

  scripts/adaptive_table.py ADAPTIVE.csv [TORCH.csv]
  scripts/adaptive_table.py --phases PHASES.csv

ADAPTIVE.csv is gpu_bench's --adaptive-csv: per timed row, N steps launched back to back three ways (the ghost path,
dense, the decoder), each loop's time per step in µs, the decoder's path counts and its last step's check. Per row it
prints the decoder's time against dense's and against the better of the two paths (both from the same loops), and,
where TORCH.csv (scripts/gpu_torch_sdpa.py) holds the row's shape (the case name's prefix BxNK: B sequences of N·1024
tokens), against torch SDPA's time per step there (a median of single cold-L2 steps: another method than the loops).
Then the worst of each ratio and the number of rows whose check failed.

With --phases, PHASES.csv is gpu_bench's --adaptive-phases-csv: one decoder through forced fractions in turn. Per phase
(rows in the CSV's order; the commit column tells runs apart) it prints the decoder's time against the phase's ghost and
dense loops and the better of the two, the step at which it settled on the better loop (−1: never) and its path runs;
then, per commit, the settled steps of the phases after the first and the worst decoder / better.
"""
import csv
import re
import sys


def fail(msg):
    sys.stderr.write("adaptive_table.py: " + msg + "\n")
    sys.exit(2)


def read(path, need):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        fail("%s: %s" % (path, e))
    if not rows:
        fail("%s: no rows" % path)
    missing = [c for c in need if c not in rows[0]]
    if missing:
        fail("%s: no column %s" % (path, ", ".join(missing)))
    return rows


def num(path, row, col):
    try:
        return float(row[col])
    except (TypeError, ValueError):
        fail("%s: %s is not a number: %r (case %s, label %s)" % (path, col, row[col], row.get("case"), row.get("label")))


def shape(case):
    m = re.match(r"(\d+)x(\d+)K", case)
    return "%sx%d" % (m.group(1), int(m.group(2)) * 1024) if m else None


def phases(path):
    rows = read(path, ["commit", "case", "phase", "forced_frac", "ghost_steps", "dense_steps", "adaptive_us",
                       "ghost_loop_us", "dense_loop_us", "better", "settled_at", "runs", "check"])
    print("| commit | case | phase | forced | ghost / dense steps | decoder µs | ghost path µs | dense µs | decoder / better | "
          "better | settled at | runs | check |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    per = {}  # commit: (settled steps of the later phases, worst decoder / better)
    failed = 0
    for r in rows:
        a, g, d = (num(path, r, c) for c in ("adaptive_us", "ghost_loop_us", "dense_loop_us"))
        rb = a / min(g, d)
        settled = int(num(path, r, "settled_at"))
        st, worst = per.get(r["commit"], ([], 0.0))
        if int(num(path, r, "phase")) > 0:
            st.append(settled)
        per[r["commit"]] = (st, max(worst, rb))
        failed += r["check"] != "ok"
        print("| %s | %s | %d | %.0f%% | %d / %d | %.1f | %.1f | %.1f | %.3f | %s | %d | %s | %s |" % (
            r["commit"], r["case"], int(num(path, r, "phase")), 100 * num(path, r, "forced_frac"),
            int(num(path, r, "ghost_steps")), int(num(path, r, "dense_steps")), a, g, d, rb, r["better"], settled, r["runs"],
            r["check"]))
    print()
    for commit, (st, worst) in per.items():
        print("%s: settled at step %s in the phases after the first; decoder / the better loop at worst %.3f" % (
            commit, " ".join(str(x) for x in st) if st else "-", worst))
    print("%d phases; %d checks failed" % (len(rows), failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--phases":
        return phases(argv[2])
    if len(argv) not in (2, 3):
        fail("usage: adaptive_table.py ADAPTIVE.csv [TORCH.csv] | --phases PHASES.csv")
    path = argv[1]
    rows = read(path, ["case", "label", "surv_frac", "steps", "ghost_steps", "dense_steps", "adaptive_us", "ghost_loop_us",
                       "dense_loop_us", "check"])
    torch = {}
    if len(argv) == 3:
        for r in read(argv[2], ["case", "torch_ms"]):
            torch[r["case"]] = 1e3 * num(argv[2], r, "torch_ms")
    print("| case | row | survivors | ghost / dense steps | decoder µs | ghost path µs | dense µs | decoder / dense | "
          "decoder / better | decoder / torch SDPA | check |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst_d = worst_b = worst_t = None
    failed = 0
    for r in rows:
        a, g, d = (num(path, r, c) for c in ("adaptive_us", "ghost_loop_us", "dense_loop_us"))
        rd, rb = a / d, a / min(g, d)
        t = torch.get(shape(r["case"]))
        rt = a / t if t else None
        worst_d = max(worst_d or rd, rd)
        worst_b = max(worst_b or rb, rb)
        if rt is not None:
            worst_t = max(worst_t or rt, rt)
        failed += r["check"] != "ok"
        print("| %s | %s | %.1f%% | %d / %d | %.1f | %.1f | %.1f | %.3f | %.3f | %s | %s |" % (
            r["case"], r["label"], 100 * num(path, r, "surv_frac"), int(num(path, r, "ghost_steps")),
            int(num(path, r, "dense_steps")), a, g, d, rd, rb, "%.3f" % rt if rt is not None else "-", r["check"]))
    print()
    print("%d rows; decoder / dense at worst %.3f; decoder / the better path at worst %.3f; decoder / torch SDPA at worst %s; "
          "%d checks failed" % (len(rows), worst_d, worst_b, "%.3f" % worst_t if worst_t is not None else "- (no torch times)",
                                failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
