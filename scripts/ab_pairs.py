#!/usr/bin/env python3
"""Stage 1 of same-call A/B runs, arm by arm, and each arm's change against a base arm, pair by pair.

  scripts/ab_pairs.py CSV BASE

CSV is gpu_bench's CSV of an A/B call whose arms are told apart by the last '-' field of the commit column
(`--commit COMMIT-ARM`, as the calls_sw scripts write it). Per case and row kind (forced, certified) it prints the
arms' stage-1 times (µs) in run order, then each other arm minus BASE for the k-th run of each (the calls run the
arms in turn, so the k-th runs of two arms are a same-call pair), and at the end the number, mean and range of
those differences per arm.
"""
import collections
import csv
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    path, base = sys.argv[1], sys.argv[2]
    times = collections.defaultdict(list)
    for r in csv.DictReader(open(path)):
        arm = r["commit"].split("-")[-1]
        times[(r["case"], r["label"].split(":")[0], arm)].append(float(r["stage1_ms"]) * 1000)
    arms = sorted({a for _, _, a in times})
    if base not in arms:
        print("ab_pairs.py: no arm %r in %s (arms: %s)" % (base, path, " ".join(arms)))
        return 2
    print("stage 1 (us) in run order per arm; differences against %s pair by pair (k-th run of each arm)" % base)
    diffs = collections.defaultdict(list)
    for c, l in sorted({(c, l) for c, l, _ in times}):
        line = "%-14s %-9s" % (c, l)
        for a in arms:
            line += " | %s %s" % (a, " ".join("%.1f" % x for x in times.get((c, l, a), [])))
        for a in arms:
            if a == base:
                continue
            d = [x - y for x, y in zip(times.get((c, l, a), []), times.get((c, l, base), []))]
            diffs[a] += d
            line += " | %s-%s %s" % (a, base, " ".join("%+.1f" % x for x in d))
        print(line)
    for a in arms:
        if a != base and diffs[a]:
            d = diffs[a]
            print("%s-%s: %d pairs, mean %+.2f us, %+.1f to %+.1f" % (a, base, len(d), sum(d) / len(d), min(d), max(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
