#!/usr/bin/env python3
"""What the scan's bounds would lose if they were stored relative to the sink tokens' best score instead of m_L.

  scripts/sink_reference.py [--last R] CAPTURE_DIR:LAYERS [...]   e.g. /tmp/caps/ref23m:1,4,7 /tmp/caps/smollm2:1,15

The scan stores each candidate's bound as v = UB − m_L (f16) and bins it in the cut's histogram; m_L, the largest
exact score of the hot tokens (sinks and the recent window), is prep's last result, behind seq_len, the page table
and the hot keys (docs/gpu.md, Next: prep). A reference known sooner is m_S, the largest exact score of the N_SINK sink
tokens (positions 0.., their page the first of the table, no seq_len needed): m_S ≤ m_L since the sinks are hot.
Stored relative to m_S, v' = UB − m_S = v + (m_L − m_S); the cut is the same histogram cut over v' with the budget
scaled by e^{m_L − m_S} (the mass of a bin is count·e^{edge' + m_S − m_L}), so it is as sound, but a token with
v' ≥ 0 lands in the overflow bin and is never eliminated: where the gap m_L − m_S exceeds −θ_h, tokens the cut
relative to m_L would eliminate survive. This script measures that on real captures, in float64 on the CPU (the
bounds, hot set, δ and cut of scripts/me_hist_bound.py, int8 witness, every query position of each layer): per layer
the survivor fraction of the candidates under the GQA rule with m_L (surv) and with m_S (surv_S), the share of
(step, query head) pairs whose gap exceeds −θ_h (lossy), and the median and largest gap in nats. The two frames'
bins do not line up (the gap is not a multiple of 1/16), so the m_S frame's cut can also sit a little higher and
eliminate a few tokens the m_L frame keeps: S_only is their mean share of the candidates. Needs the Python
module (build/python or build-cuda/python). --last R takes m_S over the sinks and the last R tokens (the query's own
key among them: behind seq_len and one page-table entry, but R rows instead of prep's 256 hot ones).
--base takes m_S from the query alone: the bound every token's score obeys, s·(q·μ) + s·‖q‖·max_t ‖k_t − μ‖ (μ the KV
head's mean key, s the scale; the scan's `base`), with every UB clamped to it (a sound clamp): no key row is needed,
m_S ≥ m_L, and what can be lost is a token whose UB falls 64 nats or more below m_S (the histogram's underflow bin,
counted at its upper edge), so here gap = m_L − m_S ≤ 0 and lossy counts the heads where θ_h + gap < −64.
--knorm: the same with the bound from the inputs the GPU step has (k_norm_max K ≥ max ‖k_t‖, μ):
s·min(‖q‖·K, q·μ + ‖q‖·(K + ‖μ‖)).
"""
import sys

import numpy as np

from provisional_cut import check_specs, layers
from me_hist_bound import DELTA, N_RECENT, N_SINK, cut


def step(q, k, ub, scale, pos, g, G, last=0, base=False):
    """One query position and KV head: (kept with m_L, kept with m_S) over the candidates, and per head (gap, θ_h);
    last > 0: m_S over the sinks and the last `last` tokens."""
    n = int(pos) + 1
    hot = np.r_[0:min(N_SINK, n), max(N_SINK, n - N_RECENT):n]
    ref = np.r_[0:min(N_SINK, n), max(N_SINK, n - last):n] if last else np.r_[0:min(N_SINK, n)]
    lo_c, hi_c = N_SINK, n - N_RECENT
    keep = np.zeros(max(0, hi_c - lo_c), dtype=bool)
    keep_s = keep.copy()
    heads = []
    for h in range(g * G, (g + 1) * G):
        s = scale * (k[hot, g, :].astype(np.float64) @ q[h, :].astype(np.float64))
        m_l = s.max()
        if base:
            kg = k[:n, g, :].astype(np.float64)
            mu = kg.mean(axis=0)
            qh = q[h, :].astype(np.float64)
            if base == "knorm":  # from ‖q‖, max ‖k_t‖ and μ alone: the lower of two sound bounds
                kn, nq = np.linalg.norm(kg, axis=1).max(), np.linalg.norm(qh)
                m_s = scale * min(nq * kn, qh @ mu + nq * (kn + np.linalg.norm(mu)))
            else:
                m_s = scale * (qh @ mu) + scale * np.linalg.norm(qh) * np.linalg.norm(kg - mu, axis=1).max()
        else:
            m_s = (scale * (k[ref, g, :].astype(np.float64) @ q[h, :].astype(np.float64))).max()
        budget = DELTA * np.exp(s - m_l).sum() / (1 - DELTA) * (1 - 1e-12)
        u = (np.minimum(ub[h, lo_c:hi_c], m_s) if base else ub[h, lo_c:hi_c]) - m_l
        gap = m_l - m_s
        th, _ = cut(u, budget)
        th_s, _ = cut(u + gap, budget * np.exp(gap))  # the same cut in the frame of m_S
        keep |= u >= th
        keep_s |= u + gap >= th_s
        heads.append((gap, th))
    return keep, keep_s, heads


def main():
    args = sys.argv[1:]
    last, base = 0, False
    if len(args) >= 2 and args[0] == "--last":
        last, args = int(args[1]), args[2:]
    if len(args) >= 1 and args[0] in ("--base", "--knorm"):
        base, args = args[0][2:], args[1:]
    if not args:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    check_specs(args, "sink_reference.py")
    if base == "knorm":
        print("# m_S = s·min(‖q‖·K, q·μ + ‖q‖·(K + ‖μ‖)), K = max ‖k_t‖ (UB clamped to it)")
    elif base:
        print("# m_S = s·(q·μ) + s·‖q‖·max ‖k_t − μ‖ (UB clamped to it)")
    elif last:
        print(f"# m_S over the {N_SINK} sinks and the last {last} tokens")
    print(f"{'capture':<34} {'layer':>5} {'steps':>5} {'surv':>6} {'surv_S':>6} {'S_only':>7} {'lossy':>6} {'gap med':>8} "
          f"{'gap max':>8}")
    for name, layer, G, Hkv, scale, q, k, pos, ub in layers(args):
        surv, surv_s, gaps, lossy, other = [], [], [], [], []
        for i in range(len(pos)):
            for g in range(Hkv):
                keep, keep_s, heads = step(q[i], k, ub[i], scale, pos[i], g, G, last, base)
                if len(keep):
                    other.append(np.mean(keep & ~keep_s))
                    surv.append(keep.mean())
                    surv_s.append(keep_s.mean())
                for gap, th in heads:
                    gaps.append(gap)
                    lossy.append(th + gap < -64 if base else gap > -th)
        print(f"{name:<34} {layer:>5} {len(pos):>5} {np.mean(surv):6.3f} {np.mean(surv_s):6.3f} {np.mean(other):7.5f} "
              f"{np.mean(lossy):6.3f} "
              f"{np.median(gaps):8.2f} {np.max(gaps):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
