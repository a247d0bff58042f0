#!/usr/bin/env python3
"""What the certified cut loses when its budget is split over the scan's blocks instead of cut once per KV head.

  scripts/split_cut.py [--chunks C,C,...] [--group W] CAPTURE_DIR:LAYERS [...]   e.g. /tmp/caps/ref23m:1,4,7

At 1 × 128K the scan's 16-17 blocks of a KV head each bound a share of its pages, and the certified cut (DESIGN §5,
`mass δ`) waits for all of them: their histograms are summed, the last block cuts, and only then can compact read the
bounds back (docs/gpu.md, "Where a step's time goes"). A split cut gives block c the budget share
B_c = budget·n_c/n (n_c: its candidates, n: the KV head's) and lets it cut its own histogram as soon as its pages are
done (the scan's local cut, finish_scan_local, per block). It is as sound: the eliminated mass is at most
Σ_c B_c = budget, so the certificate stays ≤ δ; but a block whose candidates carry more than its share of the mass
keeps tokens that the one cut would eliminate, and a block with less leaves its share unspent.

This script measures that on real captures, in float64 on the CPU (the int8 witness's bounds, hot set, m_L, Z_L, δ,
histogram cut and GQA rule of scripts/me_hist_bound.py and provisional_cut.py, every query position of each layer):
per layer and block count C, the mean survivor fraction of the candidates with the one cut (surv) and with the split
cut (split C). Pages go to blocks as the scan's warps take them: page p (of the candidates' pages, 64 tokens each) to
block (p // W) mod C, W = --group (default 1: the scan's stride over pages with one warp per block at this context;
at 1 × 128K each block's 16 warps take 16 consecutive pages of every 256, W 16 there). Needs the Python module
(build/python or build-cuda/python).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provisional_cut import check_specs, head_values, layers  # noqa: E402
from me_hist_bound import cut  # noqa: E402

PAGE = 64


def split_keep(us, budgets, tokens, C, W):
    """The GQA rule's survivors with the one cut per head, and with the budget split over C blocks (page p of the
    candidates to block (p // W) mod C; block c's share n_c/n of each head's budget)."""
    blk = ((tokens // PAGE) // W) % C
    keep = np.zeros(us.shape[1], dtype=bool)
    keep_s = keep.copy()
    n = us.shape[1]
    for u, budget in zip(us, budgets):
        keep |= u >= cut(u, budget)[0]
        for c in range(C):
            on = blk == c
            if not on.any():
                continue
            keep_s[on] |= u[on] >= cut(u[on], budget * on.sum() / n)[0]
    return keep, keep_s


def main():
    args = sys.argv[1:]
    chunks, W = (4, 8, 16, 32), 1
    while args and args[0].startswith("--"):
        if args[0] == "--chunks" and len(args) > 1:
            chunks, args = tuple(int(x) for x in args[1].split(",")), args[2:]
        elif args[0] == "--group" and len(args) > 1:
            W, args = int(args[1]), args[2:]
        else:
            raise SystemExit(f"split_cut.py: unknown option {args[0]!r}")
    if not args:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    check_specs(args, "split_cut.py")
    print(f"# budget split over C blocks; page p of the candidates to block (p // {W}) mod C")
    print(f"{'capture':<34} {'layer':>5} {'steps':>5} {'surv':>6}" + "".join(f" {'split ' + str(c):>9}" for c in chunks))
    for name, layer, G, Hkv, scale, q, k, pos, ub in layers(args):
        surv, split = [], {c: [] for c in chunks}
        for i in range(len(pos)):
            for g in range(Hkv):
                us, budgets, tokens = head_values(q[i], k, ub[i], scale, pos[i], g, G)
                if us.shape[1] == 0:
                    continue
                for c in chunks:
                    keep, keep_s = split_keep(us, budgets, tokens, c, W)
                    split[c].append(keep_s.mean())
                surv.append(keep.mean())
        print(f"{name:<34} {layer:>5} {len(pos):>5} {np.mean(surv):6.3f}" + "".join(f" {np.mean(split[c]):9.3f}" for c in chunks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
