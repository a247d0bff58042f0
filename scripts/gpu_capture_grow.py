#!/usr/bin/env python3
"""A GhostCache grown over a real capture as a decode loop grows it, against caches built at once (on an sm_90 GPU).

  scripts/gpu_capture_grow.py CAPTURE_DIR [--layers L,..] [--built F] [--bits 8|4|mixed|lowrank] [--anchors] [--every E]
                              [--lib-dir DIR]

A capture (`ghostkv capture`: manifest.json and layer_XX/{q,k,v,positions}.npy, float32, or bf16 bits as uint16 as
scripts/gpu_carry.sh writes them) holds the keys and values of n_kv tokens and the queries of the last positions.
Per layer (default: every layer of the manifest):
  - the cache is built from the first F tokens (default n_kv / 4: its PCA basis fitted on them alone) with room for
    all n_kv, and grown to the first query's position by appends of 64 tokens;
  - then it steps through the queries causally: the query at position p sees tokens 0..p (the tokens up to p appended
    first, one step at a time) and each step is checked in float64 (gpu_python_check.check_step: no bound below its
    exact score, the mass given up within mass_bound ≤ δ, the output within its certificate, the dense step exact);
  - every E-th query (default 8) is decoded too on a cache built from tokens 0..p at once (its basis fitted on all of
    them), and the shares of tokens the two attend are printed side by side: what a basis fitted on the first F
    tokens costs in elimination on real keys (never soundness: the bounds hold for any basis);
  - after the last query the cache is refitted (cache.refit(): the basis fitted on every token held) and the last
    query decoded again: it must attend what the cache built at once attends.
Exits 1 if a check fails. DIR: where libghostkv_gpu.so and ghostkv_gpu.py are (default: build/python).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_python_check import bf16, check_step, witness_label  # noqa: E402


def load(path):
    x = np.load(path)
    if x.dtype == np.uint16:  # bf16 bits
        return (x.astype(np.uint32) << 16).view(np.float32)
    return x.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("capture")
    ap.add_argument("--layers", default="")
    ap.add_argument("--built", type=int, default=0, help="tokens the cache is built from (0: n_kv / 4)")
    ap.add_argument("--bits", default="8")
    ap.add_argument("--every", type=int, default=8)
    ap.add_argument("--anchors", action="store_true", help="page anchors (whole pages eliminated from a box of their codes)")
    ap.add_argument("--delta", type=float, default=1e-3)
    ap.add_argument("--lib-dir", default=os.path.join(root, "build", "python"))
    a = ap.parse_args()
    sys.path.insert(0, a.lib_dir)
    import ghostkv_gpu

    man = json.load(open(os.path.join(a.capture, "manifest.json")))
    layers = [int(x) for x in a.layers.split(",")] if a.layers else man["layers"]
    scale = float(man["scale"])
    fails, summary = 0, []
    for layer in layers:
        ld = os.path.join(a.capture, "layer_%02d" % layer)
        k, v, q = load(os.path.join(ld, "k.npy")), load(os.path.join(ld, "v.npy")), load(os.path.join(ld, "q.npy"))
        pos = np.load(os.path.join(ld, "positions.npy")).astype(np.int64)
        n = k.shape[0]
        f = a.built if a.built > 0 else n // 4
        if not (1 <= f <= pos[0] < n):
            print(f"layer {layer}: needs 1 <= built {f} <= the first query's position {pos[0]} < n_kv {n}")
            return 1
        kb, vb = bf16(k).astype(np.float64), bf16(v).astype(np.float64)
        cache = ghostkv_gpu.GhostCache(k[:f], v[:f], bits=a.bits, capacity=n, delta=a.delta, anchors=a.anchors)
        while cache.n < pos[0]:
            m = min(64, pos[0] - cache.n)
            cache.append(k[cache.n:cache.n + m], v[cache.n:cache.n + m])
        grown, fresh, bad_layer = [], [], 0
        for i, p in enumerate(pos):
            if cache.n < p + 1:
                cache.append(k[cache.n:p + 1], v[cache.n:p + 1])
            print(f"layer {layer}, query {i} at position {p}: {p + 1} tokens held (basis of the first {f})")
            b, frac = check_step(cache, q[i], kb, vb, int(p + 1), scale, a.delta, show=lambda h, ok: not ok)
            bad_layer += b
            if i % a.every == 0 or i == len(pos) - 1:
                whole = ghostkv_gpu.GhostCache(k[:p + 1], v[:p + 1], bits=a.bits, delta=a.delta, anchors=a.anchors)
                print(f"  the same query on a cache built from all {p + 1} tokens at once:")
                b2, frac2 = check_step(whole, q[i], kb, vb, int(p + 1), scale, a.delta, show=lambda h, ok: not ok)
                whole.close()
                bad_layer += b2
                grown.append(frac)
                fresh.append(frac2)
                print(f"  attended: grown {100 * frac:.2f}%, built at once {100 * frac2:.2f}%")
        # the basis refitted on every token held: the last query again, as on the cache built at once
        cache.refit()
        print(f"layer {layer}, query {len(pos) - 1} again after cache.refit():")
        b, frac_r = check_step(cache, q[-1], kb, vb, int(pos[-1] + 1), scale, a.delta, show=lambda h, ok: not ok)
        same = abs(frac_r - fresh[-1]) < 1e-12
        bad_layer += b + (not same)
        print(f"  attended after the refit {100 * frac_r:.2f}%, built at once {100 * fresh[-1]:.2f}%"
              f"{'' if same else '  FAILED (differs)'}")
        cache.close()
        fails += bad_layer
        line = (f"layer {layer}: basis fitted on {f} of {n} tokens; attended {100 * np.mean(grown):.2f}% grown against "
                f"{100 * np.mean(fresh):.2f}% built at once (mean of {len(grown)} queries, "
                f"{witness_label(a.bits)}"
                f"{', page anchors' if a.anchors else ''}, delta {a.delta}); "
                f"after a refit {100 * frac_r:.2f}% at the last query (built at once {100 * fresh[-1]:.2f}%); "
                f"{len(pos)} steps checked, {bad_layer} failed checks")
        summary.append(line)
        print(line)
    print("\n".join(summary))
    print("gpu_capture_grow:", "all checks passed" if not fails else f"{fails} FAILED")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
