#!/usr/bin/env python3
"""Which SMs end the split cut's page loops last, and whether they do so in every launch.

  scripts/split_timeline_sm.py CSV

CSV is gpu_bench's --split-timeline-csv (GHOSTKV_SPLIT_TL=1, --cut-split): one record per scan block and timed row
(name, row, block, kv_head, smid, start, wait, loop_end, cut_done, end; µs from the launch's earliest block start).
Per launch (name, row) it prints the blocks' page-loop ends (median, 90th percentile, largest) and ends, and how much
of the spread the late-starting blocks (start more than 2 µs after the median) explain. Then per SM, over the launches
it ran a scan block in, its lag: its block's page-loop end less that launch's median. It prints the SMs with the
largest mean lag, each SM's mean lag per witness (the name's prefix before -r; 22 SMs a line, '-' where no block ran),
and the rank correlation of the SMs' lags between every two launches of one witness (same SMs in
both): near 1 where the same SMs are slow in every launch, near 0 where which block is slow is chance; and how many
of one launch's 10 slowest SMs are among the other's 10 slowest (about 10 · 10 / 128 by chance).
"""
import collections
import csv
import sys


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else float("nan")


def quantile(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * (len(v) - 1) + 0.5))] if v else float("nan")


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(order):  # ties share their mean rank
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(a, b):
    if len(a) < 3:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den else float("nan")


COLS = ("name", "row", "block", "kv_head", "smid", "start", "wait", "loop_end", "cut_done", "end")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    path = sys.argv[1]
    try:
        f = open(path, newline="")
    except OSError as e:
        raise SystemExit(f"split_timeline_sm.py: {path}: {e.strerror}")
    launches = collections.OrderedDict()
    with f:
        r = csv.DictReader(f)
        miss = [c for c in COLS if c not in (r.fieldnames or [])]
        if miss:
            raise SystemExit(f"split_timeline_sm.py: {path}: no column {', '.join(miss)}")
        for i, row in enumerate(r, start=2):
            try:
                rec = {c: float(row[c]) for c in COLS[2:]}
            except ValueError:
                raise SystemExit(f"split_timeline_sm.py: {path}: line {i}: a value that is not a number")
            launches.setdefault((row["name"], row["row"]), []).append(rec)
    if not launches:
        raise SystemExit(f"split_timeline_sm.py: {path}: no records")
    lag = {}  # launch -> {smid: page-loop end less the launch's median}
    print("launch: blocks; page-loop end median / p90 / max; end median / max; late starters (> 2 us after the median "
          "start): count, their page-loop end median; the 10 last page loops: how many started late")
    for key, recs in launches.items():
        le = [x["loop_end"] for x in recs]
        en = [x["end"] for x in recs]
        st_med = median([x["start"] for x in recs])
        late = [x for x in recs if x["start"] > st_med + 2.0]
        last10 = sorted(recs, key=lambda x: x["loop_end"])[-10:]
        n_late10 = sum(1 for x in last10 if x["start"] > st_med + 2.0)
        print(f"{key[0]} {key[1]}: {len(recs)}; {median(le):.2f} / {quantile(le, 0.9):.2f} / {max(le):.2f}; "
              f"{median(en):.2f} / {max(en):.2f}; late {len(late)}, "
              f"{median([x['loop_end'] for x in late]) if late else float('nan'):.2f}; last 10: {n_late10} late")
        m = median(le)
        lag[key] = {int(x["smid"]): x["loop_end"] - m for x in recs}
    per_sm = collections.defaultdict(list)
    for key, d in lag.items():
        for sm, v in d.items():
            per_sm[sm].append(v)
    worst = sorted(per_sm, key=lambda s: -sum(per_sm[s]) / len(per_sm[s]))[:12]
    print("SMs with the largest mean lag (us; launches they ran in): " +
          ", ".join(f"{s}: {sum(per_sm[s]) / len(per_sm[s]):+.2f} ({len(per_sm[s])})" for s in worst))
    by_w = collections.defaultdict(lambda: collections.defaultdict(list))
    for key, d in lag.items():
        for sm, v in d.items():
            by_w[key[0].rsplit("-r", 1)[0]][sm].append(v)
    for wname, d in by_w.items():
        print(f"mean lag per SM, {wname} (SM 0 first):")
        top = max(d) + 1
        for a in range(0, top, 22):
            print("  " + " ".join(f"{sum(d[s]) / len(d[s]):+5.1f}" if s in d else "    -" for s in range(a, min(top, a + 22))))
    keys = list(lag)
    print("rank correlation of the SMs' lags between launches of one witness (name's prefix before -r):")
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            a, b = keys[i], keys[j]
            if a[0].rsplit("-r", 1)[0] != b[0].rsplit("-r", 1)[0]:
                continue
            common = sorted(set(lag[a]) & set(lag[b]))
            rho = spearman([lag[a][s] for s in common], [lag[b][s] for s in common])
            ta = set(sorted(common, key=lambda s: -lag[a][s])[:10])
            tb = set(sorted(common, key=lambda s: -lag[b][s])[:10])
            print(f"  {a[0]} {a[1]} vs {b[0]} {b[1]}: {rho:+.2f} over {len(common)} SMs; "
                  f"10 slowest in both: {len(ta & tb)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
