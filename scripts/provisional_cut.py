#!/usr/bin/env python3
"""How often a cut carried over from the previous decode step would hold, and how long its candidate list would be.

  scripts/provisional_cut.py CAPTURE_DIR:LAYERS [...]   e.g. ~/.cache/ghostkv/captures/<ref23m dir>:1,4,7

docs/gpu.md (Next, "Stage 1 at 1 × 128K is its fixed costs") proposes a compaction against a provisional cut:
the scan lists the tokens whose bound reaches θ_p,h = θ_h(previous step) − margin for some head of the group
and sums the others' mass; after the cut, where θ_h ≥ θ_p,h for every head of the group, compact filters only
that list (every unlisted token is eliminated by the GQA rule too), else the step falls back to the full
compact. This script measures that on real captures, in float64 on the CPU, with the GPU's cut and GQA rule
(the bounds, hot set, m_L, Z_L and δ of scripts/me_hist_bound.py, int8 witness): over consecutive query
positions of each layer (the capture's, one decode step each) and every KV head, for each margin, the share
of steps that would fall back (fb) and, over the steps that do not, the listed tokens per survivor (list / keep,
the mean of the per-step ratios); `surv` is the mean survivor fraction of the candidates over all steps. The
last column, `sound`, is list / keep for a provisional cut that needs no fallback, known before the scan: per head
the largest histogram edge θ_s with n_cand·e^{θ_s} ≤ the budget (every token below it together has at most that
mass, so θ_s ≤ θ_h: the form of the anchor stage's θ_A, with the whole budget), and `listed` the mean fraction of the
candidates it lists. Needs the Python module (build/python or
build-cuda/python) and the captures of scripts/report.sh.

  scripts/provisional_cut.py --sample K CAPTURE_DIR:LAYERS [...]

measures instead a provisional cut from a partial histogram of the same step: the scan bounds every K-th page of the
KV head first (pages p with p mod K = 0), and θ_p,h = θ̂_h − margin, where θ̂_h is the cut of those pages' candidates
against budget / K (their mass scaled by K); the rest of the scan lists the tokens with u_h ≥ θ_p,h for some head of
the group. After the full cut, where θ_h ≥ θ_p,h for every head, compact filters the list and re-reads the sampled
pages (every unlisted token is eliminated by the GQA rule: sound); else it falls back to the full compact. `fb` is the
share of (step, KV head) pairs that would fall back, `list/keep` (the steps that do not) the listed tokens plus the
sampled pages' candidates per survivor, and `listed` that count as a fraction of the candidates at margin 1.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for b in ("build", "build-cuda"):
    sys.path.insert(0, os.path.join(ROOT, b, "python"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import ghostkv  # noqa: E402
from me_hist_bound import BINS, DELTA, LO, N_RECENT, N_SINK, cut  # noqa: E402

MARGINS = (0.0, 0.25, 0.5, 1.0, 2.0)
EDGES = LO + np.arange(BINS + 1) / 16.0  # the cut's bin edges (me_hist_bound.cut's)


def head_values(q, k, ub, scale, pos, g, G):
    """For one query position and KV head: the G heads' candidate values u_h = UB − m_L (G × candidates), their
    budgets δ·Z_L/(1 − δ), and the candidates' token positions."""
    n = int(pos) + 1
    hot = np.r_[0:min(N_SINK, n), max(N_SINK, n - N_RECENT):n]
    lo_c, hi_c = N_SINK, n - N_RECENT
    us, budgets = [], []
    for h in range(g * G, (g + 1) * G):
        s = scale * (k[hot, g, :].astype(np.float64) @ q[h, :].astype(np.float64))
        m_l = s.max()
        z_l = np.exp(s - m_l).sum()
        us.append(ub[h, lo_c:hi_c] - m_l)
        budgets.append(DELTA * z_l / (1 - DELTA) * (1 - 1e-12))
    return np.array(us), budgets, np.arange(lo_c, hi_c)


def step_values(q, k, ub, scale, pos, g, G):
    """For one query position and KV head: the G heads' candidate values u_h = UB − m_L, their cuts θ_h and the sound
    cuts θ_s,h known before the scan."""
    us, budgets, _ = head_values(q, k, ub, scale, pos, g, G)
    th, ths = [], []
    for u, budget in zip(us, budgets):
        t, _ = cut(u, budget)
        ok = np.nonzero(len(u) * np.exp(EDGES) * (1 + 1e-12) <= budget)[0]
        ts = EDGES[ok[-1]] if len(ok) else -np.inf
        assert ts <= t, "θ_s above the cut"
        th.append(t)
        ths.append(ts)
    return us, np.array(th), np.array(ths)


def sample_values(q, k, ub, scale, pos, g, G, K):
    """For one query position and KV head: u (G × candidates), the full cuts θ_h, the cuts θ̂_h of every K-th page's
    candidates against budget / K, and which candidates lie on those pages."""
    us, budgets, tokens = head_values(q, k, ub, scale, pos, g, G)
    on_sample = (tokens // 64) % K == 0
    th = [cut(u, budget)[0] for u, budget in zip(us, budgets)]
    te = [cut(u[on_sample], budget / K)[0] for u, budget in zip(us, budgets)]
    return us, np.array(th), np.array(te), on_sample


def check_specs(specs, prog):
    """Refuses (SystemExit naming prog and the spec or file) a spec that is not CAPTURE_DIR:LAYERS or names a layer the
    capture lacks (its k.npy or the capture's manifest.json missing)."""
    for spec in specs:
        cap, _, lay = spec.rpartition(":")
        if not cap or not lay or not all(x.isdigit() for x in lay.split(",")):
            raise SystemExit(f"{prog}: {spec!r} is not CAPTURE_DIR:LAYERS (e.g. caps/ref23m:1,4,7)")
        for x in lay.split(","):
            need = os.path.join(cap, f"layer_{int(x):02d}", "k.npy")
            if not os.path.exists(os.path.join(cap, "manifest.json")) or not os.path.exists(need):
                raise SystemExit(f"{prog}: {cap}: no capture of layer {x} ({need} or manifest.json missing)")


def layers(specs, consecutive=False):
    """Each CAP:LAYERS spec's layers: (name, layer, G, Hkv, scale, q, k, positions, the int8 witness's upper bounds);
    consecutive: the query positions must be consecutive decode steps."""
    for spec in specs:
        cap, layer_list = spec.split(":")
        man = json.load(open(os.path.join(cap, "manifest.json")))
        G, Hkv = man["n_head_q"] // man["n_head_kv"], man["n_head_kv"]
        for layer in [int(x) for x in layer_list.split(",")]:
            d = os.path.join(cap, f"layer_{layer:02d}")
            q, k, v = (np.load(os.path.join(d, f"{x}.npy")) for x in ("q", "k", "v"))
            pos = np.load(os.path.join(d, "positions.npy")).astype(np.int64)
            if consecutive and np.any(np.diff(pos) != 1):
                raise SystemExit(f"provisional_cut.py: {d}: the query positions are not consecutive decode steps")
            r = ghostkv.eliminate(q, k, v, positions=pos, scale=man["scale"], witness="quant", bits="8", keep_arrays=True)
            ub = r["upper_bound"].astype(np.float64)  # [queries, Hq, n_kv]
            yield os.path.basename(cap.rstrip("/"))[:34], layer, G, Hkv, man["scale"], q, k, pos, ub


def main_sample(K, specs):
    head = f"{'capture':<34} {'layer':>5} {'steps':>5} {'surv':>6} {'sampled':>7}"
    for m in MARGINS:
        head += f" | m={m:<4}  fb  list/keep"
    head += " | listed"
    print(f"# a provisional cut from every {K}-th page's candidates (their mass × {K})")
    print(head)
    for name, layer, G, Hkv, scale, q, k, pos, ub in layers(specs):
        surv, smp, fb, lst, frac1 = [], [], {m: [] for m in MARGINS}, {m: [] for m in MARGINS}, []
        for i in range(len(pos)):
            for g in range(Hkv):
                u, th, te, on = sample_values(q[i], k, ub[i], scale, pos[i], g, G, K)
                keep = np.any(u >= th[:, None], axis=0)
                surv.append(keep.mean())
                smp.append(on.mean())
                for m in MARGINS:
                    tp = te - m
                    if np.any(th < tp):
                        fb[m].append(1.0)
                        continue
                    fb[m].append(0.0)
                    listed = np.any(u >= tp[:, None], axis=0) | on
                    assert not np.any(keep & ~listed), "an unlisted token survives with every θ_h ≥ θ_p,h"
                    lst[m].append(listed.sum() / max(1, keep.sum()))
                    if m == 1.0:
                        frac1.append(listed.mean())
        line = f"{name:<34} {layer:>5} {len(surv):>5} {np.mean(surv):6.3f} {np.mean(smp):7.3f}"
        for m in MARGINS:
            lm = f"{np.mean(lst[m]):9.2f}" if lst[m] else "        -"
            line += f" | {np.mean(fb[m]):9.3f} {lm}"
        line += f" | {np.mean(frac1):6.3f}" if frac1 else " |      -"
        print(line)
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--sample":
        return main_sample(int(sys.argv[2]), sys.argv[3:])
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    head = f"{'capture':<34} {'layer':>5} {'steps':>5} {'surv':>6}"
    for m in MARGINS:
        head += f" | m={m:<4}  fb  list/keep"
    head += " |  sound listed"
    print(head)
    for name, layer, G, Hkv, scale, q, k, pos, ub in layers(sys.argv[1:], consecutive=True):
        prev = [None] * Hkv
        surv, fb, lst, snd, sndf = [], {m: [] for m in MARGINS}, {m: [] for m in MARGINS}, [], []
        for i in range(len(pos)):
            for g in range(Hkv):
                u, th, ths = step_values(q[i], k, ub[i], scale, pos[i], g, G)
                keep = np.any(u >= th[:, None], axis=0)  # the GQA rule: kept if some head keeps it
                sl = np.any(u >= ths[:, None], axis=0)
                assert not np.any(keep & ~sl)
                snd.append(sl.sum() / max(1, keep.sum()))
                sndf.append(sl.mean())
                if prev[g] is not None:
                    surv.append(keep.mean())
                    for m in MARGINS:
                        tp = prev[g] - m
                        if np.any(th < tp):
                            fb[m].append(1.0)
                        else:
                            fb[m].append(0.0)
                            listed = np.any(u >= tp[:, None], axis=0)
                            assert not np.any(keep & ~listed), "an unlisted token survives with every θ_h ≥ θ_p,h"
                            lst[m].append(listed.sum() / max(1, keep.sum()))
                prev[g] = th
        line = f"{name:<34} {layer:>5} {len(surv):>5} {np.mean(surv):6.3f}"
        for m in MARGINS:
            lm = f"{np.mean(lst[m]):9.2f}" if lst[m] else "        -"
            line += f" | {np.mean(fb[m]):9.3f} {lm}"
        line += f" | {np.mean(snd):6.2f} {np.mean(sndf):6.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
