#!/usr/bin/env python3
"""The real captures' rows per head against the same layer at its mean certified fraction.

  scripts/gpu_per_head.py [GPU_BENCH_CSV [GPU_TORCH_CSV]]   (default: results/gpu/gpu_bench.csv, gpu_torch.csv)

For every main-shape case with `real:LAYER` and `real-heads:LAYER` rows (every KV head at the layer's mean fraction;
each at its own), prints per layer stage 2 and the step against their floors, the step's speed against torch SDPA and
our dense kernel, the adaptive rule's path, and per case the range of stage 2's time per head over its time at the
mean and of its ratio to its floor over the same layer's at the mean (the figures docs/gpu.md's "What met" quotes).
"""
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_CASE = {"1x128K": "1x131072", "32x32K": "32x32768"}


def main():
    bench = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "results/gpu/gpu_bench.csv")
    torch_csv = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(bench), "gpu_torch.csv")
    rows = list(csv.DictReader(open(bench)))
    torch = {r["case"]: float(r["torch_ms"]) for r in csv.DictReader(open(torch_csv))}
    by = {(r["case"], r["label"]): r for r in rows}
    cases = []
    for r in rows:
        if r["label"].startswith("real-heads:") and r["case"] not in cases:
            cases.append(r["case"])
    if not cases:
        sys.exit(f"gpu_per_head.py: {bench} has no real-heads rows")
    for case in cases:
        shape = case.split("-")[0]
        if shape not in TORCH_CASE or TORCH_CASE[shape] not in torch:
            sys.exit(f"gpu_per_head.py: no torch SDPA time for {case} in {torch_csv}")
        t = torch[TORCH_CASE[shape]]
        layers = [r["label"].split(":", 1)[1] for r in rows if r["case"] == case and r["label"].startswith("real-heads:")]
        ratio, fm, fh = [], [], []
        for layer in layers:
            m, h = by.get((case, "real:" + layer)), by.get((case, "real-heads:" + layer))
            if m is None or h is None:
                sys.exit(f"gpu_per_head.py: {case} lacks the real or real-heads row of {layer}")
            f = lambda r, k: float(r[k])  # noqa: E731
            ratio.append(f(h, "stage2_ms") / f(m, "stage2_ms") - 1)
            fm.append(f(m, "stage2_vs_floor"))
            fh.append(f(h, "stage2_vs_floor"))
            line = []
            for tag, r in (("mean", m), ("heads", h)):
                line.append(f"{tag}: stage 2 {f(r, 'stage2_vs_floor'):.3f}x floor, step {f(r, 'ghost_vs_floor'):.3f}x floor, "
                            f"{t / f(r, 'ghost_ms'):.2f}x torch, {f(r, 'dense_ms') / f(r, 'ghost_ms'):.2f}x dense, "
                            f"adaptive {r['adaptive_path']}")
            print(f"{case} {layer} | " + " | ".join(line))
        rel = [h / m - 1 for h, m in zip(fh, fm)]
        print(f"{case}: stage 2 per head {100 * min(ratio):+.1f}% to {100 * max(ratio):+.1f}% of its time at the mean; "
              f"stage 2 / floor at the mean {min(fm):.3f}-{max(fm):.3f}, per head {min(fh):.3f}-{max(fh):.3f} "
              f"({100 * min(rel):+.1f}% to {100 * max(rel):+.1f}% of the same layer's at the mean)")


if __name__ == "__main__":
    main()
