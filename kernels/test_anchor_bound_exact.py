#!/usr/bin/env python3
"""Exact-arithmetic check of the anchor stage's float32 page bound (kernels/decode.cu, anchor_kernel).

The kernel bounds, per page and query head, the worst case over the page's box of
    sum_j q_rj * (h_j * m_tj + delta_tj),   q_rj in [q~_j - D_j, q~_j + D_j], m_tj = 2c - Q_j with
    c in [lo_j, hi_j], |delta_tj| <= err_j
by, per lane (4 components j) and then a sum rounded up over the 32 lanes (a butterfly; at G 4 the kernel
reduces the 4 heads' sums together by a reduce-scatter, anchor_head_sum, replayed below):
    w   = fl_rn(q~ * h)
    a   = fma_ru(|w|, |hi - lo|, fma_ru(w, lo + hi - Q, a))
    t   = fma_ru(|q~| + D (ru), |err|, fma_ru(D*Q (ru) + Q*2^-23*|q~| (ru, ru), |h|, t))
    part = a +ru t
This script replays those roundings exactly (rationals, each step rounded to float32 in the kernel's
direction) and compares the result with the exact worst case over the box. The kernel adds
2*2^-100 (tiny) to the part later; the check allows that and nothing else. Random pages (every scale,
width and sign) and tight pages (one component, D = 0, err = 0, a one-code box with m = +-1 and q~*h
rounded toward zero, where only the weight-rounding term covers the gap) must all hold, and two
broken variants must be caught (the check is only worth something if it can fail): the box's centre
alone (no |w|*m_half term) and the h_j factor without its weight-rounding term Q*2^-23*|q~|.
Exit status 0 when every bound holds and both variants are caught.

The reduce-scatter (anchor_head_sum at G 4): each lane holds 4 partial sums (one per head); at xor 16 the
half with bit 4 clear keeps heads 0, 1 and sends 2, 3 (the other half the reverse), at xor 8 one of the two
is kept, then xor 4, 2, 1 add; every add rounded up. Replayed on random lanes (every sign and scale): every
lane 8h..8h+7 must end with the same value, at or above head h's exact sum over the 32 lanes; a variant with
the halves' heads swapped at xor 16 must be caught.

The low-rank page anchor (lowrank_anchor_kernel: a lane per page) bounds, per page and head, the worst
case of sum_j q_j * z_j + ns * e + np * rho + add over q_j in [q~_j - D_j, q~_j + D_j], z_j in [lo_j, hi_j]
(the f16 box), e <= E, rho <= P, by the kernel's sequence, component by component in order:
    part = add_ru(part, max(mul_ru(q~_j, lo_j), mul_ru(q~_j, hi_j)));  part = fma_ru(D_j, max(|lo_j|, |hi_j|), part)
    part = add_ru(part, fma_ru(ns, E, mul_ru(np, P)));  part = add_ru(part, add)
Random pages over every scale must hold; the variants "min instead of max" (the box's wrong end) and
"without the D term" must be caught, and a NaN box end must give a NaN bound (stored as +inf: never
eliminated; max.NaN propagates it, where a plain max would drop it).
"""
import random
import sys
from fractions import Fraction as F

import numpy as np

f32 = np.float32
INF = f32(np.inf)
FMAX = F(float(np.finfo(np.float32).max))


def ru(x):
    """The least float32 >= the rational x (overflow: +inf; a negative overflow: -FLT_MAX)."""
    if x > FMAX:
        return INF
    if x < -FMAX:
        return -f32(np.finfo(np.float32).max)
    with np.errstate(over="ignore"):
        f = f32(float(x))
    while F(float(f)) < x:
        with np.errstate(over="ignore"):
            f = np.nextafter(f, INF)
        if not np.isfinite(f):
            return INF
    while True:
        with np.errstate(over="ignore"):
            g = np.nextafter(f, -INF)
        if np.isfinite(g) and F(float(g)) >= x:
            f = g
        else:
            return f


def finite(*xs):
    return all(np.isfinite(x) for x in xs)


def add_ru(a, b):
    return ru(F(float(a)) + F(float(b))) if finite(a, b) else f32(a) + f32(b)


def mul_ru(a, b):
    return ru(F(float(a)) * F(float(b))) if finite(a, b) else f32(a) * f32(b)


def fma_ru(a, b, c):
    if finite(a, b, c):
        return ru(F(float(a)) * F(float(b)) + F(float(c)))
    with np.errstate(invalid="ignore", over="ignore"):
        return f32(a) * f32(b) + f32(c)


def mul_rn(a, b):
    with np.errstate(over="ignore"):
        return f32(float(a) * float(b))  # the double product is exact; one rounding to float32


def rand_f32(rng, lo_e, hi_e):
    return f32(rng.choice([-1, 1]) * 2.0 ** rng.uniform(lo_e, hi_e))


def rand_f16(rng, lo_e, hi_e, positive):
    x = f32(np.float16(2.0 ** rng.uniform(lo_e, hi_e)))
    return x if positive else -x


def query_factor_b(dl, q, qmax, qe, variant):
    """The h_j factor: D*Q (ru) + Q*2^-23*|q~| (ru), rounded up; the variant drops the second term."""
    if variant == "no-rounding-term":
        return mul_ru(dl, qmax)
    return add_ru(mul_ru(dl, qmax), mul_ru(qe, abs(q)))


def butterfly(lanes):
    o = 16
    while o:
        lanes = [add_ru(lanes[i], lanes[i ^ o]) for i in range(32)]
        o >>= 1
    return lanes[0]


def reduce_scatter4(parts, variant=None):
    """anchor_head_sum at G 4: parts[lane] = [4 float32 partial sums]; returns each lane's value."""
    k0, k1, s0, s1 = [], [], [], []
    for lane in range(32):
        b4 = bool(lane & 16) != (variant == "swapped")  # the broken variant keeps the other half's heads
        p = parts[lane]
        k0.append(p[2] if b4 else p[0])
        k1.append(p[3] if b4 else p[1])
        s0.append(p[0] if b4 else p[2])
        s1.append(p[1] if b4 else p[3])
    k0, k1 = ([add_ru(k0[i], s0[i ^ 16]) for i in range(32)], [add_ru(k1[i], s1[i ^ 16]) for i in range(32)])
    k = [k1[i] if i & 8 else k0[i] for i in range(32)]
    send = [k0[i] if i & 8 else k1[i] for i in range(32)]
    k = [add_ru(k[i], send[i ^ 8]) for i in range(32)]
    for o in (4, 2, 1):
        k = [add_ru(k[i], k[i ^ o]) for i in range(32)]
    return k


def reduce_scatter_trial(rng, variant=None):
    """Random lanes: True when every lane 8h..8h+7 holds one value >= head h's exact sum."""
    parts = [[rand_f32(rng, rng.choice([-20, -3]), rng.choice([3, 20]))
              for _ in range(4)] for _ in range(32)]
    out = reduce_scatter4(parts, variant)
    for h in range(4):
        exact = sum(F(float(parts[lane][h])) for lane in range(32))
        vals = out[8 * h:8 * h + 8]
        if any(v != vals[0] for v in vals) or F(float(vals[0])) < exact:
            return False
    return True


def tight_trial(rng, variant=None):
    """A page where only the weight's rounding separates the float sum from the exact one: one
    component, D = 0, err = 0, a box of one code with m = +-1 (w*m exact, q~*h*m > 0) and q~*h rounded
    toward zero; the other lanes add exactly +0."""
    qi = rng.choice([15, 255])
    qmax, qe = f32(qi), f32(qi * 2.0 ** -23)
    while True:
        q = rand_f32(rng, -3, 3)
        h = rand_f16(rng, -12, -2, positive=True)
        w = mul_rn(q, h)
        if abs(F(float(w))) < abs(F(float(q)) * F(float(h))):
            break
    c = (qi + 1) // 2 if q > 0 else (qi - 1) // 2
    dl = err = f32(0)
    qa = add_ru(abs(q), dl)
    qb = query_factor_b(dl, q, qmax, qe, variant)
    a = fma_ru(abs(w), f32(0), fma_ru(w, f32(2 * c - qi), f32(0)))
    t = fma_ru(qa, abs(err), fma_ru(qb, abs(h), f32(0)))
    part = butterfly([add_ru(a, t)] + [f32(0)] * 31)
    return F(float(part)) + 2 * F(2) ** -100 >= F(float(q)) * F(float(h)) * (2 * c - qi)


def trial(rng, d, k8, scale, variant=None):
    """One head's page: returns (bound holds, the variant's value is finite)."""
    lanes = []
    worst = F(0)
    for lane in range(32):
        if lane >= d // 4:  # lanes without a word add exactly +0
            lanes.append(f32(0))
            continue
        qi = 255 if lane < 8 * k8 else 15
        qmax, qe = f32(qi), f32(qi * 2.0 ** -23)
        a = t = f32(0)
        for _ in range(4):
            q = rand_f32(rng, *scale[0])
            dl = abs(rand_f32(rng, scale[0][0] - 20, scale[0][1] - 10))
            h = rand_f16(rng, *scale[1], positive=rng.random() < 0.9)
            err = rand_f16(rng, scale[1][0] - 8, scale[1][1] - 6, positive=rng.random() < 0.9)
            lo = rng.randint(0, qi)
            hi = rng.randint(lo, qi)
            qa = add_ru(abs(q), dl)
            qb = query_factor_b(dl, q, qmax, qe, variant)
            w = mul_rn(q, h)
            if variant == "centre":
                a = fma_ru(w, f32(lo + hi - qi), a)
            else:
                a = fma_ru(abs(w), f32(abs(hi - lo)), fma_ru(w, f32(lo + hi - qi), a))
            t = fma_ru(qa, abs(err), fma_ru(qb, abs(h), t))
            worst += max(qr * F(float(h)) * (2 * c - qi) + abs(qr) * abs(F(float(err)))
                         for c in (lo, hi) for qr in (F(float(q)) - F(float(dl)), F(float(q)) + F(float(dl))))
        lanes.append(add_ru(a, t))
    part = butterfly(lanes)
    if np.isnan(part) or part == INF:  # stored as +inf: never eliminated
        return True
    return F(float(part)) + 2 * F(2) ** -100 >= worst


def max_nan(a, b):
    """max.NaN.f32: NaN if either is NaN."""
    return f32(np.nan) if (np.isnan(a) or np.isnan(b)) else max(a, b)


def lowrank_trial(rng, scale, variant=None):
    """One head's low-rank page bound over its 16 sketch components, in the kernel's order: True when it
    holds (or is not finite: stored as +inf, never eliminated); with variant "nan", True when a NaN box end
    gives a NaN bound."""
    part = f32(0)
    worst = F(0)
    for j in range(16):
        q = rand_f32(rng, *scale[0])
        dl = f32(0) if variant == "no-delta" else abs(rand_f32(rng, scale[0][0] - 20, scale[0][1] - 10))
        dl_true = abs(rand_f32(rng, scale[0][0] - 20, scale[0][1] - 10)) if variant == "no-delta" else dl
        z1, z2 = rand_f16(rng, *scale[1], rng.random() < 0.5), rand_f16(rng, *scale[1], rng.random() < 0.5)
        lo, hi = min(z1, z2), max(z1, z2)
        if variant == "nan" and j == 7:
            lo = f32(np.nan)
        pick = min if variant == "min" else max_nan
        with np.errstate(invalid="ignore"):
            part = add_ru(part, pick(mul_ru(q, lo), mul_ru(q, hi)))
            part = fma_ru(dl, max_nan(abs(lo), abs(hi)), part)
        if variant != "nan":
            worst += max(qr * F(float(z)) for z in (lo, hi)
                         for qr in (F(float(q)) - F(float(dl_true)), F(float(q)) + F(float(dl_true))))
    ns, np_ = abs(rand_f32(rng, *scale[0])), abs(rand_f32(rng, *scale[0]))
    e, p = abs(rand_f16(rng, *scale[1], True)), abs(rand_f16(rng, *scale[1], True))
    add = abs(rand_f32(rng, *scale[0]))
    with np.errstate(invalid="ignore"):
        part = add_ru(part, fma_ru(ns, e, mul_ru(np_, p)))
        part = add_ru(part, add)
    if variant == "nan":
        return bool(np.isnan(part))
    if np.isnan(part) or part == INF:
        return True
    worst += F(float(ns)) * F(float(e)) + F(float(np_)) * F(float(p)) + F(float(add))
    return F(float(part)) + 2 * F(2) ** -100 >= worst


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 240
    rng = random.Random(20261129)
    # (exponent range of q~, exponent range of h): ordinary, subnormal products, mixed, overflowing, wide
    scales = [((-3, 3), (-12, -2)), ((-140, -120), (-24, -14)), ((-130, -100), (-20, 10)), ((100, 120), (5, 15)),
              ((-10, 10), (-24, 15))]
    bad = 0
    for _ in range(trials):
        d = rng.choice([64, 128])
        k8 = rng.choice([0, 1, d // 32])
        if not trial(rng, d, k8, rng.choice(scales)):
            bad += 1
    tight_bad = sum(not tight_trial(rng) for _ in range(200))
    centre = sum(not trial(rng, 128, 4, scales[0], variant="centre") for _ in range(20))
    no_round = sum(not tight_trial(rng, variant="no-rounding-term") for _ in range(200))
    print(f"anchor page bound: {trials} random pages, {bad} below the exact worst case; 200 tight pages, "
          f"{tight_bad} below; broken variants caught: the box's centre alone {centre} of 20, without the "
          f"weight-rounding term {no_round} of 200")
    rs_bad = sum(not reduce_scatter_trial(rng) for _ in range(trials))
    rs_swapped = sum(not reduce_scatter_trial(rng, variant="swapped") for _ in range(20))
    print(f"the G 4 reduce-scatter: {trials} random warps, {rs_bad} with a head's lanes unequal or below its exact "
          f"sum; the halves' heads swapped caught {rs_swapped} of 20")
    # low-rank: q~ scales as above, sketch components from subnormal f16 to the f16 range's top
    lr_scales = [((-3, 3), (-10, 4)), ((-140, -120), (-24, -14)), ((100, 120), (5, 15)), ((-10, 10), (-24, 15))]
    lr_bad = sum(not lowrank_trial(rng, rng.choice(lr_scales)) for _ in range(trials))
    lr_min = sum(not lowrank_trial(rng, lr_scales[0], variant="min") for _ in range(20))
    lr_nodelta = sum(not lowrank_trial(rng, lr_scales[0], variant="no-delta") for _ in range(20))
    lr_nan = sum(not lowrank_trial(rng, lr_scales[0], variant="nan") for _ in range(20))
    print(f"low-rank page bound: {trials} random pages, {lr_bad} below the exact worst case; broken variants "
          f"caught: the box's other end {lr_min} of 20, without the D term {lr_nodelta} of 20; a NaN box end "
          f"not giving a NaN bound: {lr_nan} of 20")
    return 0 if (bad == 0 and tight_bad == 0 and centre > 0 and no_round > 0 and rs_bad == 0 and rs_swapped > 0
                 and lr_bad == 0 and lr_min > 0 and lr_nodelta > 0 and lr_nan == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
