#!/usr/bin/env python3
"""Row-by-row change between two recorded GPU runs (gpu_bench.csv of scripts/gpu_bench.sh).

  scripts/gpu_run_diff.py OLD.csv NEW.csv

For the main shapes (cases 1x128K-*, 32x32K-*) prints the range of NEW/OLD − 1 of stage 1 and of the
ghost step over all rows but the anchored 1 × 128K ones and those whose split count (column `splits`, where both
files have it) differs, those rows one by one (with stage 2 and the split counts where they differ), then per shape
over all its rows the lowest, median and highest NEW/OLD − 1 of stage 1, stage 2, the step and our dense; and over
all rows of both files how many differ in survivor fraction or max mass bound (and in each), and in how many our
dense's error against float64 (whose summation order is fixed) is the same to the CSV's digits; last, per main-shape case,
stage 1's lowest-highest time in µs in NEW (in OLD) and the median of its rows' changes in µs. E.g. the run before f9891a4 against it:
  git show 577ac02^:results/gpu/gpu_bench.csv > /tmp/old.csv; scripts/gpu_run_diff.py /tmp/old.csv results/gpu/gpu_bench.csv
"""
import csv
import statistics
import sys


def rows(path):
    return {(r["case"], r["label"]): r for r in csv.DictReader(open(path))}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = rows(sys.argv[1]), rows(sys.argv[2])
    s1, gh = [], []
    for key, r in new.items():
        o = old.get(key)
        if o is None or not key[0].startswith(("1x128K", "32x32K")):
            continue
        d1 = float(r["stage1_ms"]) / float(o["stage1_ms"]) - 1
        dg = float(r["ghost_ms"]) / float(o["ghost_ms"]) - 1
        sp_old, sp_new = o.get("splits") or "", r.get("splits") or ""
        if sp_old and sp_new and sp_old != sp_new:
            d2 = float(r["stage2_ms"]) / float(o["stage2_ms"]) - 1
            print("%-20s %-18s splits %s -> %s  stage 1 %+.1f%%  stage 2 %+.1f%%  step %+.1f%%"
                  % (key[0], key[1][:18], sp_old, sp_new, 100 * d1, 100 * d2, 100 * dg))
        elif key[0].startswith("1x128K") and "anc" in key[0]:
            print("%-20s %-18s stage 1 %+.1f%%  step %+.1f%%" % (key[0], key[1][:18], 100 * d1, 100 * dg))
        else:
            s1.append(d1)
            gh.append(dg)
    if s1:
        print("other main-shape rows (%d): stage 1 %+.1f%% to %+.1f%%, step %+.1f%% to %+.1f%%"
              % (len(s1), 100 * min(s1), 100 * max(s1), 100 * min(gh), 100 * max(gh)))
    cols = (("stage 1", "stage1_ms"), ("stage 2", "stage2_ms"), ("step", "ghost_ms"), ("our dense", "dense_ms"))
    for shape in ("1x128K", "32x32K"):
        keys = [k for k in new if k in old and k[0].startswith(shape)]  # every row of the shape, anchored ones too
        if not keys:
            continue
        parts = []
        for name, col in cols:
            d = sorted(float(new[k][col]) / float(old[k][col]) - 1 for k in keys)
            parts.append("%s %+.1f%% / %+.1f%% / %+.1f%%" % (name, 100 * d[0], 100 * statistics.median(d), 100 * d[-1]))
        print("%s rows (%d), lowest / median / highest: %s" % (shape, len(keys), ", ".join(parts)))
    common = [k for k in new if k in old]
    moved = sum(1 for k in common if (new[k]["surv_frac"], new[k]["max_mass_bound"]) != (old[k]["surv_frac"], old[k]["max_mass_bound"]))
    same_err = sum(1 for k in common if new[k].get("dense_rel_err") == old[k].get("dense_rel_err"))
    print("rows whose survivor fraction or max mass bound differ: %d of %d" % (moved, len(common)))
    frac = sum(1 for k in common if new[k]["surv_frac"] != old[k]["surv_frac"])
    print("  of them in survivor fraction: %d, in max mass bound: %d"
          % (frac, sum(1 for k in common if new[k]["max_mass_bound"] != old[k]["max_mass_bound"])))
    print("rows whose dense error against float64 is the same: %d of %d" % (same_err, len(common)))
    print("stage 1 per case (us): lowest-highest in NEW (in OLD), median change per row")
    for case in sorted({k[0] for k in common if k[0].startswith(("1x128K", "32x32K"))}):
        ks = [k for k in common if k[0] == case]
        n = [1000 * float(new[k]["stage1_ms"]) for k in ks]
        o = [1000 * float(old[k]["stage1_ms"]) for k in ks]
        d = statistics.median(1000 * (float(new[k]["stage1_ms"]) - float(old[k]["stage1_ms"])) for k in ks)
        print("  %-24s %3d rows: %.1f-%.1f (%.1f-%.1f), median %+.2f" % (case, len(ks), min(n), max(n), min(o), max(o), d))


if __name__ == "__main__":
    main()
