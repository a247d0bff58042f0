#!/usr/bin/env python3
"""How much the certificate's mass bound would loosen if M_E came from the cut's histogram.

  scripts/me_hist_bound.py CAPTURE_DIR:LAYERS [...]   e.g. ~/.cache/ghostkv/captures/<ref23m dir>:1,4,7

docs/gpu.md (Next, compact): compact sums M_E = Σ e^{UB − m_L} over the eliminated tokens, one ex2 per
token and head. The cut already sums, per head, M_H = Σ_{k<K} count_k·e^{edge_k} over the histogram
bins below θ (1024 bins of 1/16 over [−64, 0), as on the GPU), which bounds M_E too: every eliminated
token lies below θ_h. M_H also counts the tokens below θ_h that another head of the group keeps
(GQA rule), and rounds each term up to its bin's edge. This script measures, on real captures, in
float64 on the CPU: the token bounds UB come from the CPU library (ghostkv.eliminate, int8 witness,
keep_arrays), the hot set is the 4 sinks + 64 recent tokens of each query's causal prefix, m_L and
Z_L are the hot tokens' exact max and sum, δ = 1e-3; the cut and the GQA rule are the GPU's. For the
last 8 query positions of each layer it prints the eliminated fraction and the mass bounds
M/(Z_L + M) with M = M_E and with M = M_H (median and max over queries × heads, and their ratio).
Needs the Python module (build/python) and the captures of scripts/report.sh.
"""
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "build", "python"))
import ghostkv  # noqa: E402

DELTA, N_SINK, N_RECENT, LO, BINS = 1e-3, 4, 64, -64.0, 1024


def cut(v, budget):
    """θ and M_H of the GPU's histogram cut over values v (UB − m_L of the candidates)."""
    edges = LO + np.arange(BINS + 1) / 16.0  # upper edges of bins 0..1024 (bin 0: below LO)
    k = np.where(v < LO, 0, np.floor((v - LO) * 16.0).astype(np.int64) + 1)
    counts = np.bincount(k[(k <= BINS)], minlength=BINS + 1)[: BINS + 1].astype(np.float64)
    m = np.cumsum(counts * np.exp(edges)) * (1 + 1e-12)
    ok = np.nonzero(m * (1 + 1e-12) <= budget)[0]
    if len(ok) == 0:
        return -math.inf, 0.0
    K = ok[-1]  # bins 0..K fit: θ = e_K
    return edges[K], m[K]


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip())
        return 2
    print(f"{'capture':<34} {'layer':>5} {'elim':>6} {'mass_E med':>11} {'mass_H med':>11} {'ratio med':>9} {'ratio max':>9} {'mass_H max':>10}")
    for spec in sys.argv[1:]:
        cap, layers = spec.split(":")
        man = json.load(open(os.path.join(cap, "manifest.json")))
        G = man["n_head_q"] // man["n_head_kv"]
        for layer in [int(x) for x in layers.split(",")]:
            d = os.path.join(cap, f"layer_{layer:02d}")
            q, k, v = (np.load(os.path.join(d, f"{x}.npy")) for x in ("q", "k", "v"))
            pos = np.load(os.path.join(d, "positions.npy")).astype(np.int64)
            q, pos = q[-8:], pos[-8:]
            r = ghostkv.eliminate(q, k, v, positions=pos, scale=man["scale"], witness="quant", bits="8", keep_arrays=True)
            ub = r["upper_bound"].astype(np.float64)  # [queries, Hq, n_kv]
            me_r, mh_r, elim_frac = [], [], []
            for i in range(len(pos)):
                n = int(pos[i]) + 1
                hot = np.r_[0:min(N_SINK, n), max(N_SINK, n - N_RECENT):n]
                lo_c, hi_c = N_SINK, n - N_RECENT
                for g in range(man["n_head_kv"]):
                    thetas, mh, z, ml, vv = [], [], [], [], []
                    for h in range(g * G, (g + 1) * G):
                        s = man["scale"] * (k[hot, g, :].astype(np.float64) @ q[i, h, :].astype(np.float64))
                        m_l = s.max()
                        z_l = np.exp(s - m_l).sum()
                        vh = ub[i, h, lo_c:hi_c] - m_l
                        th, m_h = cut(vh, DELTA * z_l / (1 - DELTA) * (1 - 1e-12))
                        thetas.append(th), mh.append(m_h), z.append(z_l), vv.append(vh)
                    elim = np.all([vv[j] < thetas[j] for j in range(G)], axis=0)
                    elim_frac.append(elim.mean())
                    for j in range(G):
                        m_e = np.exp(vv[j][elim]).sum()
                        me_r.append(m_e / (z[j] + m_e))
                        mh_r.append(mh[j] / (z[j] + mh[j]))
            me_r, mh_r = np.array(me_r), np.array(mh_r)
            ratio = np.where(me_r > 0, mh_r / np.maximum(me_r, 1e-300), np.nan)
            name = os.path.basename(cap.rstrip("/"))[:34]
            print(f"{name:<34} {layer:>5} {np.mean(elim_frac):6.3f} {np.median(me_r):11.3e} {np.median(mh_r):11.3e} "
                  f"{np.nanmedian(ratio):9.2f} {np.nanmax(ratio):9.2f} {mh_r.max():10.3e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
