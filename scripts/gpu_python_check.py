#!/usr/bin/env python3
"""The GPU path through the Python module ghostkv_gpu, checked in float64 with numpy (on a machine with an sm_90 GPU).

  scripts/gpu_python_check.py [--lib-dir DIR] [--n N] [--far SHARE] [--bits 8|4|mixed|lowrank] [--hq HQ] [--hkv HKV] [--d D]
                              [--grow] [--anchors]

One sequence of N tokens (default 32768), HQ query heads over HKV KV heads (32 / 8), d_head D (128). The keys have a
mean and a decaying spectrum; a share SHARE (default 0.5) of the pages (none holding a hot token) lies far below the
queries, so the certified policy has tokens to eliminate. For each query head it prints the tokens attended, the
certificate's bounds and the output's distance from exact attention (float64, over the bf16-rounded keys and values
the cache holds), and checks:
  - ||out − exact|| ≤ out_err_bound + 1e-4·||exact|| (float32 arithmetic), mass_bound ≤ δ (1e-3), no flags;
  - with the step's detail (cache.last_step(): the tokens attended and every candidate's bound): every bound ≥ its exact
    score (violations), the mass given up ≤ mass_bound (1 + 1e-9), the list's length = n_attended, and
    ||out − attention over the kept tokens|| ≤ 1e-4 of its norm;
  - the dense step: every token attended, both bounds 0, ||out − exact|| ≤ 1e-4·||exact||;
  - a non-finite query component flags its head (and only it).
With --grow the cache is built from the first N/2 tokens with room for N (capacity) and the rest appended in chunks of
1, 7, 64, 500 and 4096 tokens in turn (GhostCache.append: the pages they touch get their records with the basis of the
first half); after every append the checks above run over the tokens held, and at the end the attended share is
printed beside that of a cache built from all N tokens at once.
With --anchors the caches have page anchors (whole pages eliminated from a box of their codes; the far pages are whole
pages): the same checks, the anchored pages' tokens bounded by their page's bound.
Exits 1 if a check fails. DIR: where libghostkv_gpu.so and ghostkv_gpu.py are (default: build/python beside this
script's repository).
"""
import argparse
import math
import os
import sys

import numpy as np


def bf16(x):
    """x rounded to bfloat16 (nearest even), as float32."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def witness_label(bits):
    """How the summaries name a witness: "8-bit", "4-bit", "mixed-bit", or "low-rank r16" for bits "lowrank"."""
    return "low-rank r16" if bits == "lowrank" else f"{bits}-bit"


def check_step(cache, q, kb, vb, nh, scale, delta=1e-3, show=lambda h, ok: True):
    """One ghost and one dense decode of q [n_head_q, d] on cache (nh tokens held; kb, vb: float64 [>= nh, hkv, d], the
    bf16 values the cache holds), checked in float64 as the module docstring says. Prints a row per head where
    show(h, ok). Returns (failed checks, the mean share of tokens attended)."""
    hq, hkv = q.shape[0], kb.shape[1]
    G = hq // hkv
    out, cert = cache.decode(q, scale)
    kept, bound = cache.last_step()
    out_d, cert_d = cache.decode(q, scale, dense=True)
    try:  # a dense step has no detail
        cache.last_step()
        bad = 1
        print("last_step after a dense decode: answered  FAILED")
    except ValueError:
        bad = 0
    rows = []
    for h in range(hq):
        g = h // G
        s = scale * (kb[:nh, g] @ q[h].astype(np.float64))
        w = np.exp(s - s.max())
        z = w.sum()
        exact = (w[:, None] * vb[:nh, g]).sum(0) / z
        ne = np.linalg.norm(exact)
        err = np.linalg.norm(out[h] - exact)
        err_d = np.linalg.norm(out_d[h] - exact)
        kg = kept[g]
        viol = int(np.count_nonzero(~(bound[h] >= s)))  # a NaN bound counts
        lost = w[~kg].sum() / z
        kw = np.where(kg, w, 0.0)
        okept = (kw[:, None] * vb[:nh, g]).sum(0) / kw.sum()
        ok = (cert["flags"][h] == 0 and err <= cert["out_err_bound"][h] + 1e-4 * ne and cert["mass_bound"][h] <= delta * (1 + 1e-9)
              and cert_d["flags"][h] == 0 and cert_d["mass_bound"][h] == 0 and cert_d["out_err_bound"][h] == 0
              and cert_d["n_attended"][h] == nh and err_d <= 1e-4 * ne and cert["n_attended"][h] <= nh
              and viol == 0 and lost <= cert["mass_bound"][h] * (1 + 1e-9) and int(kg.sum()) == cert["n_attended"][h]
              and np.linalg.norm(out[h] - okept) <= 1e-4 * np.linalg.norm(okept))
        bad += not ok
        if show(h, ok):
            rows.append(f"{h:>4} {cert['n_attended'][h]:>9} {cert['mass_bound'][h]:>11.3e} {lost:>11.3e} {viol:>5} "
                        f"{cert['out_err_bound'][h]:>12.3e} {err:>12.3e} {err_d:>13.3e}{'' if ok else '  FAILED'}")
    if rows:
        print(f"{'head':>4} {'attended':>9} {'mass_bound':>11} {'mass_lost':>11} {'viol':>5} {'out_err_bnd':>12} "
              f"{'|out-exact|':>12} {'|dense-exact|':>13}")
        print("\n".join(rows))
    return bad, cert["n_attended"].mean() / nh


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--lib-dir", default=os.path.join(root, "build", "python"))
    ap.add_argument("--n", type=int, default=32768)
    ap.add_argument("--far", type=float, default=0.5)
    ap.add_argument("--bits", default="8")
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--grow", action="store_true", help="build from N/2 tokens, append the rest in chunks")
    ap.add_argument("--anchors", action="store_true", help="page anchors")
    a = ap.parse_args()
    sys.path.insert(0, a.lib_dir)
    import ghostkv_gpu

    n, hq, hkv, d, G = a.n, a.hq, a.hkv, a.d, a.hq // a.hkv
    scale = 1.0 / math.sqrt(d)
    rng = np.random.default_rng(7)
    q = rng.standard_normal((hq, d)).astype(np.float32)
    k = np.empty((n, hkv, d), np.float32)
    v = rng.standard_normal((n, hkv, d)).astype(np.float32)
    page = np.arange(n) // 64
    far = (np.modf(page * 0.6180339887498949)[0] < a.far) & (page * 64 >= 4) & ((page + 1) * 64 <= n - 64)
    for g in range(hkv):
        mu = 0.5 * rng.standard_normal(d)
        sd = 2.0 * np.exp(-np.arange(d) / 24.0) + 0.25
        qg = q[g * G:(g + 1) * G].astype(np.float64)
        away = -(60.0 / (scale * math.sqrt(d))) * (qg / np.linalg.norm(qg, axis=1, keepdims=True)).sum(0)
        k[:, g] = mu + sd * rng.standard_normal((n, d)) + np.where(far[:, None], away, 0.0)
    kb, vb = bf16(k).astype(np.float64), bf16(v).astype(np.float64)

    fails = 0

    def check(cache, nh, tag):
        print(f"{tag}: {nh} tokens held")
        bad, frac = check_step(cache, q, kb, vb, nh, scale, show=lambda h, ok: not a.grow or not ok or h < 2)
        print(f"attended {100 * frac:.1f}% of the tokens on average (far share {a.far}, {witness_label(a.bits)} witness"
              f"{', page anchors' if a.anchors else ''}, n {nh})")
        return bad, frac

    if a.grow:
        n0 = max(1, n // 2)
        cache = ghostkv_gpu.GhostCache(k[:n0], v[:n0], bits=a.bits, capacity=n, anchors=a.anchors)
        b, _ = check(cache, n0, "built")
        fails += b
        held, sizes, i = n0, [1, 7, 64, 500, 4096], 0
        while held < n:
            m = min(sizes[i % len(sizes)], n - held)
            cache.append(k[held:held + m], v[held:held + m])
            held += m
            i += 1
            ok_n = cache.n == held
            fails += not ok_n
            b, frac = check(cache, held, f"appended {m}" + ("" if ok_n else f"  FAILED (cache.n {cache.n})"))
            fails += b
        try:  # no room left: refused, nothing changed
            cache.append(k[:1], v[:1])
            fails += 1
            print("append past the capacity: accepted  FAILED")
        except ValueError as e:
            print(f"append past the capacity: refused ({e})")
        fresh = ghostkv_gpu.GhostCache(k, v, bits=a.bits, anchors=a.anchors)
        _, ffrac = check(fresh, n, "built from all tokens at once")
        fresh.close()
        print(f"grown cache attended {100 * frac:.1f}%, one built at once {100 * ffrac:.1f}%")
    else:
        cache = ghostkv_gpu.GhostCache(k, v, bits=a.bits, anchors=a.anchors)
        b, _ = check(cache, n, "built")
        fails += b
    # a non-finite query component: that head flagged, the others as before
    q2 = q.copy()
    q2[1, 5] = np.nan
    out2, cert2 = cache.decode(q2, scale)
    flag_ok = cert2["flags"][1] != 0 and cert2["mass_bound"][1] == 1 and math.isinf(cert2["out_err_bound"][1]) and \
        all(cert2["flags"][h] == 0 for h in range(hq) if h != 1)
    fails += not flag_ok
    print(f"NaN query component in head 1: flags {cert2['flags'][1]}, other heads unflagged: {'ok' if flag_ok else 'FAILED'}")
    cache.close()
    print("gpu_python_check:", "all checks passed" if not fails else f"{fails} FAILED")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
