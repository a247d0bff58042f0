#!/usr/bin/env python3
"""Per-layer means of a `ghostkv generate --stats-csv` file (one row per decode step and layer).

  scripts/gpu_decode_layers.py CSV [CSV ...]

Prints, per file: its rows, steps and the keys each step saw, then per layer the mean attended share and
kv_bytes_frac, and over all rows the largest mass bound and relative output error and the certificate failures;
then the cells of docs/gpu.md's decode-loop table row over all rows: the mean attended share and eliminated share of
the candidates, the mean kv_bytes_frac, the largest mass bound, mass given up (NaN where no row has one) and relative
output error, and the bound violations.
"""
import math
import collections
import csv
import sys


def main():
    for path in sys.argv[1:]:
        rows = list(csv.DictReader(open(path)))
        by = collections.defaultdict(list)
        for r in rows:
            by[int(r["layer"])].append(r)
        mean = lambda v, k: sum(float(r[k]) for r in v) / len(v)  # noqa: E731
        print(f"{path}: {len(rows)} rows, {len({r['step'] for r in rows})} steps, n_kv {rows[0]['n_kv']}..{rows[-1]['n_kv']}")
        print("  attended per layer:", " ".join(f"{100 * mean(v, 'attended_frac'):.1f}" for _, v in sorted(by.items())))
        print("  kv_bytes_frac per layer:", " ".join(f"{mean(v, 'kv_bytes_frac'):.3f}" for _, v in sorted(by.items())))
        print(f"  max mass bound {max(float(r['max_mass_bound']) for r in rows):.3e}, max relative output error "
              f"{max(float(r['max_out_rel_err']) for r in rows):.3e}, certificate failures "
              f"{sum(int(r['certificate_failures']) for r in rows)}")
        lost = [float(r["max_mass_lost"]) for r in rows if not math.isnan(float(r["max_mass_lost"]))]
        e = lambda x: "nan" if math.isnan(x) else f"{x:.2e}".replace("e-0", "e-").replace("e+0", "e+")  # noqa: E731
        print(f"  table cells: {100 * mean(rows, 'attended_frac'):.1f} % | {100 * mean(rows, 'elim_rate'):.1f} % | "
              f"{mean(rows, 'kv_bytes_frac'):.3f} | {e(max(float(r['max_mass_bound']) for r in rows))} | "
              f"{e(max(lost) if lost else math.nan)} | {e(max(float(r['max_out_rel_err']) for r in rows))} | "
              f"{sum(int(r['violations']) for r in rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
