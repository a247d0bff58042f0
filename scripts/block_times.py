#!/usr/bin/env python3
"""Where and when the fused low-rank kernel's and attend's blocks ran, from `gpu_bench --block-times` records.

  scripts/block_times.py CSV [--batch B --hkv H --n N]

CSV has the columns case,label,kernel,block,sm,start_us,end_us (the diagnostic build of branch next/block-timeline:
each block's SM, its first thread's start and its last warp's end on the GPU's global timer, µs from the step's first
block), and from 94d8f2e on kv_head,rows (each block's KV head, attend's from list 1, and its survivor rows). Per
(case, label) it prints:
  - the fused blocks' starts, ends and durations (lowest / median / highest), how many SMs held two of them, how
    close the two blocks of one SM ended (correlation of their durations), and each SM's mean duration;
  - attend's blocks: block y takes the y-th KV head that list 1 names, and the fused block of a KV head puts it there
    just before it ends, so the y-th fused block to end is taken as block y's KV head: the gap from that end to
    block y's start, block y's time from then to its end, how many attend blocks were working every 5 µs, and the
    correlation of attend's end with its KV head's fused end;
  - for forced rows with anchors, given the shape (--batch, --hkv, --n): each KV head's kept pages and survivor rows
    (the host replay of the kernels' hashes, scripts/forced_balance.py) against the fused block's duration and
    against attend's end;
  - where the record has kv_head and rows: each attend block's time against its own KV head's rows (the "exact" lines).
"""
import argparse
import csv
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forced_balance  # noqa: E402


def q3(x):
    x = np.sort(np.asarray(x, float))
    return "%.1f / %.1f / %.1f" % (x[0], np.median(x), x[-1])


def corr(a, b):
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


def report(case, label, rows, shape):
    fused = {int(r["block"]): (float(r["start_us"]), float(r["end_us"]), int(r["sm"])) for r in rows if r["kernel"] == "fused"}
    att = sorted((int(r["block"]), float(r["start_us"]), float(r["end_us"]), int(r["sm"])) for r in rows
                 if r["kernel"] == "attend")
    print("== %s %s: %d fused blocks, %d attend blocks" % (case, label, len(fused), len(att)))
    if not fused:
        return
    fb = sorted(fused)
    fs = [fused[b][0] for b in fb]
    fe = [fused[b][1] for b in fb]
    fd = [fused[b][1] - fused[b][0] for b in fb]
    print("  fused: start %s, end %s, duration %s us" % (q3(fs), q3(fe), q3(fd)))
    by_sm = defaultdict(list)
    for b in fb:
        by_sm[fused[b][2]].append(b)
    pairs = [v for v in by_sm.values() if len(v) == 2]
    line = "  fused: %d SMs, %d with two blocks" % (len(by_sm), len(pairs))
    if len(pairs) > 2:
        d0 = [fused[v[0]][1] - fused[v[0]][0] for v in pairs]
        d1 = [fused[v[1]][1] - fused[v[1]][0] for v in pairs]
        line += "; the durations of an SM's two blocks correlate %.3f" % corr(d0, d1)
    print(line)
    means = {s: np.mean([fused[b][1] - fused[b][0] for b in v]) for s, v in by_sm.items()}
    print("  fused: mean duration per SM (SM:us): " + " ".join("%d:%.0f" % (s, means[s]) for s in sorted(means)))
    if not att:
        return
    ends = sorted(fe)
    order = sorted(fb, key=lambda b: fused[b][1])  # the y-th fused block to end: attend block y's KV head
    n = min(len(att), len(ends))
    a_start = np.array([a[1] for a in att[:n]])
    a_end = np.array([a[2] for a in att[:n]])
    ready = np.array(ends[:n])
    begin = np.maximum(a_start, ready)
    print("  attend: start %s, end %s us" % (q3([a[1] for a in att]), q3([a[2] for a in att])))
    if len(att) == len(ends):  # one split: a block per KV head
        gap = a_start - ready
        print("  attend block y's start less the y-th fused end, 10th / 50th / 90th percentile: %.1f / %.1f / %.1f us" %
              tuple(np.percentile(gap, [10, 50, 90])))
        print("  attend block y from max(its start, that end) to its end: %s us" % q3(a_end - begin))
        ts = np.arange(np.floor(ready.min() / 5) * 5, a_end.max() + 5, 5)
        print("  attend blocks working, every 5 us from %.0f us: %s" % (
            ts[0], " ".join(str(int(((begin <= t) & (a_end > t)).sum())) for t in ts)))
        print("  fused blocks still running then: %s" % " ".join(str(int((np.array(fe) > t).sum())) for t in ts))
        head_end = np.zeros(n)
        for y in range(n):
            head_end[fb.index(order[y])] = a_end[y]
        print("  attend's end against its KV head's fused end: correlation %.3f" % corr(head_end, fe))
        frac = None
        if label.startswith("forced:"):
            frac = float(label.split(":")[1])
        if frac is not None and shape and shape.batch * shape.hkv == len(fb) and "anc" in case:
            nbg = shape.batch * shape.hkv
            pages = np.array([int(forced_balance.kept_pages(bg, shape.n, frac).sum()) for bg in range(nbg)])
            surv = forced_balance.counts(nbg, shape.n, frac, True)
            print("  KV heads' kept pages %s, survivor rows %s" % (q3(pages), q3(surv)))
            print("  correlation: fused duration with kept pages %.3f, with rows %.3f; attend's end with rows %.3f" % (
                corr(fd, pages[fb]), corr(fd, surv[fb]), corr(head_end, surv[fb])))
        if "kv_head" in rows[0]:  # the record names each block's KV head and rows (list 1): attend exactly
            exact(rows, fused)


def exact(rows, fused):
    """Attend's blocks against their own KV heads (the record's kv_head and rows columns): each block's time from
    max(its start, its KV head's fused end) to its end, against its survivor rows."""
    fend = {int(r["kv_head"]): float(r["end_us"]) for r in rows if r["kernel"] == "fused"}
    att = [(float(r["start_us"]), float(r["end_us"]), int(r["kv_head"]), int(r["rows"])) for r in rows
           if r["kernel"] == "attend"]
    if not att or any(a[2] not in fend for a in att):
        print("  exact: attend's KV heads not all among the fused blocks'")
        return
    begin = np.array([max(a[0], fend[a[2]]) for a in att])
    end = np.array([a[1] for a in att])
    n = np.array([a[3] for a in att], float)
    dur = end - begin
    slope, icpt = np.polyfit(n, dur, 1)
    fit = icpt + slope * n
    r2 = 1 - ((dur - fit) ** 2).sum() / ((dur - dur.mean()) ** 2).sum()
    print("  exact: attend's KV heads' rows %s; a block's time from max(its start, its KV head's fused end) %s us;" % (
        q3(n), q3(dur)))
    print("  exact: time against rows: correlation %.3f, %.1f us + %.4f us per row (R^2 %.2f); rows per us %s" % (
        corr(dur, n), icpt, slope, r2, q3(n / dur)))
    last = np.argsort(-end)[:5]
    print("  exact: the last 5 attend ends (us, rows, its KV head's fused end): %s" % ", ".join(
        "%.1f / %d / %.1f" % (end[i], n[i], fend[att[i][2]]) for i in last))
    print("  exact: attend's end against its rows %.3f, against its KV head's fused end %.3f" % (
        corr(end, n), corr(end, [fend[a[2]] for a in att])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--hkv", type=int, default=0)
    ap.add_argument("--n", type=int, default=0)
    a = ap.parse_args()
    groups = defaultdict(list)
    with open(a.csv) as f:
        for r in csv.DictReader(f):
            groups[(r["case"], r["label"])].append(r)
    shape = a if a.batch and a.hkv and a.n else None
    for (case, label), rows in groups.items():
        report(case, label, rows, shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
