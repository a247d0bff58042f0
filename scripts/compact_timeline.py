#!/usr/bin/env python3
"""compact's timeline records (`gpu_bench --compact-timeline-csv`) against the scan's end, per case and row.

  scripts/compact_timeline.py CSV

For each launch recorded (case, label; #n where a call ran the pair more than once) whose records carry the scan's
last block end (origin "scan": the scan's timeline of the same launch was recorded too): the blocks' wait returns
after the scan's last block end (median, as gpu_bench's summary takes it: the sorted value at round(0.5·(n − 1))),
the blocks' walk ends after their wait (median / highest: the last of the 4 warps), and compact's last block end
after the scan's last block end. Times in µs.
"""
import collections
import csv
import sys


def q(v, f):
    v = sorted(v)
    return v[int(f * (len(v) - 1) + 0.5)]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    groups = collections.defaultdict(list)
    seen = collections.Counter()
    for r in csv.DictReader(open(sys.argv[1])):
        if r["block"] == "0":  # a launch's records start at block 0
            seen[(r["case"], r["label"])] += 1
        n = seen[(r["case"], r["label"])]
        groups[(r["case"], r["label"] + ("" if n == 1 else " #%d" % n))].append(r)
    for (case, label), rows in groups.items():
        if rows[0]["origin"] != "scan" or not rows[0]["scan_end_us"]:
            print("%s %s: %d blocks, no scan timeline beside it" % (case, label, len(rows)))
            continue
        scan_end = float(rows[0]["scan_end_us"])
        wait = [float(r["wait_us"]) - scan_end for r in rows]
        walk = []
        for r in rows:
            ends = [float(r["warp%d_us" % i]) for i in range(4) if r["warp%d_us" % i]]
            if ends:
                walk.append(max(ends) - float(r["wait_us"]))
        last = max(float(r["end_us"]) for r in rows if r["end_us"]) - scan_end
        print("%s %s: %d blocks; waits returned %.2f after the scan's last block (median); walk end %.2f / %.2f after "
              "the wait (median / max); compact's last block %.2f after the scan's" %
              (case, label, len(rows), q(wait, 0.5), q(walk, 0.5) if walk else 0, max(walk) if walk else 0, last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
