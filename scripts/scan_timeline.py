#!/usr/bin/env python3
"""The quant scan's timeline records (`gpu_bench --scan-timeline-csv`) summarised per case and row.

  scripts/scan_timeline.py CSV

For each launch recorded (case, label, and the n-th record of that pair where a call ran it more than once: #n): the spread of the warps' page-loop ends within a block (median / highest over the blocks),
per KV head the spread of its blocks' last warps, and how far its last warp ends after its median warp (median and
range over the KV heads), and the blocks that started more than 1 µs after the first: how many, and the median end of
their last warp against the other blocks'. Times in µs from the launch's first block start. Where the records carry the
scan compaction's columns (cp_flag_us, cp_end_us: calls 136-137, the compaction tried inside the scan), also each
block's compaction after it saw the cut's flag (lowest / median / highest).
"""
import collections
import csv
import statistics as st
import sys


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
        within, late_end, early_end = [], [], []
        heads = collections.defaultdict(list)
        for r in rows:
            ws = [float(r["warp%d_us" % i]) for i in range(16) if r.get("warp%d_us" % i)]
            if not ws:
                continue
            within.append(max(ws) - min(ws))
            heads[r["kv_head"]].append(ws)
            (late_end if float(r["start_us"]) > 1.0 else early_end).append(max(ws))
        blocks = [max(max(w) for w in v) - min(max(w) for w in v) for v in heads.values()]
        lag = [max(max(w) for w in v) - st.median([x for w in v for x in w]) for v in heads.values()]
        print("%s %s: %d blocks, %d KV heads; warps' end spread within a block median %.2f max %.2f; per KV head: its "
              "blocks' last warps %.2f apart (median), its last warp after its median warp median %.2f (%.2f-%.2f); "
              "blocks started > 1 us late: %d, their last warp's end median %s against %.2f" %
              (case, label, len(rows), len(heads), st.median(within), max(within), st.median(blocks), st.median(lag),
               min(lag), max(lag), len(late_end), "%.2f" % st.median(late_end) if late_end else "-",
               st.median(early_end)))
        cp = [float(r["cp_end_us"]) - float(r["cp_flag_us"]) for r in rows if r.get("cp_flag_us") and r.get("cp_end_us")]
        if cp:
            print("%s %s: compaction after the flag per block min %.2f median %.2f max %.2f (%d blocks)" %
                  (case, label, min(cp), st.median(cp), max(cp), len(cp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
