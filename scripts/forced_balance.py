#!/usr/bin/env python3
"""Survivor rows per KV head of the bench's forced rows, and what their spread costs the one-split attend.

  scripts/forced_balance.py [--batch B] [--hkv H] [--n N] [--tile T] [--even-pages]

Replays the forced survivor selection of kernels/decode.cu on the host (hash3 of the seed, the KV head and the
token against the keep threshold; with anchors, hash3 of the seed ^ 0x5bd1e995, the KV head and the page against
the page threshold first, the pages holding hot tokens always kept; the n_sink 4 and n_recent 64 hot tokens always
survive), for the main 32 × 32K shape at the forced fractions of the bench (1, 5, 20%; with anchors: pages kept
with probability min(1, 4f), tokens in them with f / that). Prints, per row, the mean survivor rows per KV head,
their spread, and the largest and the mean number of attend tiles (48 rows, the 6-warp one-split build) per KV
head: with one block per KV head in one wave, the step waits for the largest.

--even-pages: the anchored rows under the diagnostic rule of GHOSTKV_FORCED_EVEN_PAGES=1 (branch next/steal-cost,
fcb9ea2): KV head bg keeps page pg iff (pg + 3·bg) mod k == 0, k = round(1 / min(1, 4f)) (and every page holding hot
tokens), tokens in them by the hash as before; rows at 1 and 5% (at 20% k would be 1).
"""
import argparse

import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def hash3(a, b, c):
    a = np.uint64(a)
    b = np.asarray(b, dtype=np.uint64)
    c = np.asarray(c, dtype=np.uint64)
    h = ((a * np.uint64(0x9E3779B1)) & M32) ^ ((((b + np.uint64(0x7F4A7C15)) & M32) * np.uint64(0x85EBCA77)) & M32) ^ \
        ((((c + np.uint64(0x165667B1)) & M32) * np.uint64(0xC2B2AE3D)) & M32)
    h &= M32
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & M32
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & M32
    h ^= h >> np.uint64(15)
    return h


def threshold(p):  # uint32(fminf(p, 1) · 4294967295.0f), in float32 as the kernels compute it
    return np.uint64(int(np.float32(min(p, 1.0)) * np.float32(4294967295.0)))


def hot_tokens(n, n_sink=4, n_recent=64):
    t = np.arange(n, dtype=np.uint64)
    return t, (t < n_sink) | (t >= n - n_recent)


def kept_pages(bg, n, f, seed=1, page=64, n_sink=4, n_recent=64, even=False):
    """KV head bg's pages the forced rows with anchors keep at fraction f (those holding hot tokens always); even:
    every k-th page, k = round(1 / min(1, 4f)), offset by 3·bg (GHOSTKV_FORCED_EVEN_PAGES), instead of the hash."""
    _, hot = hot_tokens(n, n_sink, n_recent)
    pages = np.arange((n + page - 1) // page, dtype=np.uint64)
    page_hot = np.zeros(len(pages), bool)
    page_hot[(np.nonzero(hot)[0] // page)] = True
    if even:
        k = int(round(1.0 / float(np.float32(min(1.0, 4 * f)))))
        return ((pages.astype(np.int64) + 3 * bg) % k == 0) | page_hot
    return (hash3(seed ^ 0x5BD1E995, bg, pages) <= threshold(min(1.0, 4 * f))) | page_hot


def counts(n_bg, n, f, anchors, seed=1, page=64, n_sink=4, n_recent=64, even=False):
    t, hot = hot_tokens(n, n_sink, n_recent)
    pk = min(1.0, 4 * f) if anchors else 1.0
    kthr = threshold(f / pk)
    out = []
    for bg in range(n_bg):
        keep = hash3(seed, bg, t) <= kthr
        if anchors:
            keep &= kept_pages(bg, n, f, seed, page, n_sink, n_recent, even)[t // page]
        out.append(int((keep | hot).sum()))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--n", type=int, default=32768)
    ap.add_argument("--tile", type=int, default=48)
    ap.add_argument("--even-pages", action="store_true")
    a = ap.parse_args()
    print("%d x %d KV heads, %d tokens each; attend tiles of %d rows%s" % (
        a.batch, a.hkv, a.n, a.tile, "; anchored pages by the even rule (GHOSTKV_FORCED_EVEN_PAGES)" if a.even_pages else ""))
    print("%-6s %-8s %10s %8s %9s %9s %10s %10s" % ("frac", "anchors", "mean rows", "sd", "max/mean", "min/mean",
                                                   "max tiles", "mean tiles"))
    for f in ((0.01, 0.05) if a.even_pages else (0.01, 0.05, 0.2)):
        for anc in ((True,) if a.even_pages else (False, True)):
            c = counts(a.batch * a.hkv, a.n, f, anc, even=a.even_pages)
            tiles = np.ceil(c / a.tile)
            print("%-6s %-8s %10.0f %7.1f%% %9.3f %9.3f %10d %10.1f" % (
                "%g%%" % (100 * f), "yes" if anc else "no", c.mean(), 100 * c.std() / c.mean(), c.max() / c.mean(),
                c.min() / c.mean(), int(tiles.max()), tiles.mean()))


if __name__ == "__main__":
    main()
