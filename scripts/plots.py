#!/usr/bin/python3
"""Plots of the experiment CSVs (results/<experiment>/*.csv) as PNG and SVG beside them.
Run with Debian's /usr/bin/python3 (it has matplotlib). Every figure: axes labelled with units,
legends, the data kind (real / synthetic) in the title. Missing CSVs are skipped with a message."""
import csv
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["svg.hashsalt"] = "ghostkv"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RES = os.path.join(ROOT, "results")


def load(exp, name=None):
    path = os.path.join(RES, exp, (name or exp) + ".csv")
    if not os.path.exists(path):
        print(f"plots: {path} not found, skipped")
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(r, k, default=float("nan")):
    try:
        v = r.get(k, "")
        return float(v) if v not in ("", None) else default
    except ValueError:
        return default


def mean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def save(fig, exp, name):
    out = os.path.join(RES, exp)
    os.makedirs(out, exist_ok=True)
    for ext in ("png", "svg"):  # no date, fixed ids: the same CSV gives the same files
        fig.savefig(os.path.join(out, f"{name}.{ext}"), dpi=110, bbox_inches="tight",
                    metadata={"Date": None} if ext == "svg" else None)
    plt.close(fig)
    print(f"plots: {os.path.join(out, name)}.png/.svg")


def model_of(r):
    return r["source"].replace("-sub", "")


def delta_of(policy):
    return float(policy.split(":")[1]) if policy.startswith("mass:") else float("nan")


def frontier_plots():
    rows = load("frontier")
    if not rows:
        return
    # 1. frontier curves per layer: elim_rate vs mass_lost and vs fer_topk over δ (per-layer rows)
    per = defaultdict(list)  # (model, unit, layer) -> rows
    for r in rows:
        if r["kv_head"] == "all" and r["layer"] != "all":
            per[(model_of(r), r["unit"], r["layer"])].append(r)
    models = sorted({k[0] for k in per})
    for m in models:
        layers_swept = sorted({k[2] for k, v in per.items() if k[0] == m and len({x["policy"] for x in v}) >= 3},
                              key=int)
        if not layers_swept:
            continue
        unit = sorted({k[1] for k, v in per.items() if k[0] == m and k[2] == layers_swept[0] and len(v) >= 3})[0]
        fig, ax = plt.subplots(1, 3, figsize=(17, 4.6))
        fig.subplots_adjust(wspace=0.28)
        cmap = plt.get_cmap("viridis")
        fmax = 0.0
        for i, L in enumerate(layers_swept):
            pts = sorted(per[(m, unit, L)], key=lambda r: delta_of(r["policy"]))
            c = cmap(i / max(1, len(layers_swept) - 1))
            y = [num(r, "elim_rate_mean") for r in pts]
            x2 = [num(r, "fer_topk_mean") for r in pts]
            fmax = max([fmax] + [v for v in x2 if not math.isnan(v)])
            ax[0].plot([max(num(r, "mass_lost_mean"), 1e-9) for r in pts], y, "o-", color=c, label=f"layer {L}")
            ax[0].plot([max(num(r, "mass_bound_mean"), 1e-9) for r in pts], y, "x:", color=c, alpha=0.6)
            ax[1].plot([max(num(r, "out_rel_err_mean"), 1e-9) for r in pts], y, "o-", color=c, label=f"layer {L}")
            ax[2].plot(x2, y, "o-", color=c, label=f"layer {L}")
        ax[0].set_xscale("log")
        ax[1].set_xscale("log")
        ax[0].set_xlabel("attention mass lost per (query, head), mean\n(o: measured, x: certificate mass_bound)")
        ax[1].set_xlabel("output relative error ||o − ô|| / ||o||, mean")
        ax[2].set_xlabel("fer_topk@16 (fraction of the true top-16 eliminated), mean")
        ax[2].set_xlim(-0.005, max(0.1, 1.1 * fmax))
        ax[2].axvline(0.05, color="grey", ls="--", lw=0.8)
        ax[2].axhline(0.30, color="grey", ls="--", lw=0.8)
        ax[2].text(0.052, 0.02, "prototype safe point:\nfer ≤ 5%, elim ≥ 30%", fontsize=7, color="grey")
        for a in ax:
            a.set_ylabel("elim_rate (fraction of candidates never read)")
            a.grid(alpha=0.3)
        ax[0].legend(fontsize=7, title="points: δ = 1e-4, 1e-3, 1e-2, 1e-1", title_fontsize=7)
        fig.suptitle(f"Frontier per layer: {m} on {unit} (real text), rotated int8 witness, two-stage 5%, mass policy")
        save(fig, "frontier", f"frontier_{m}")
    # 2. heatmap of elim_rate at δ = 1e-3 per layer × KV head (mean over the texts)
    heads = defaultdict(list)
    for r in rows:
        if r["kv_head"] not in ("all",) and r["policy"] == "mass:1e-3" and "-sub" not in r["source"]:
            heads[(r["source"], int(r["layer"]), int(r["kv_head"]))].append(num(r, "elim_rate_mean"))
    for src in sorted({k[0] for k in heads}):
        L = max(k[1] for k in heads if k[0] == src) + 1
        H = max(k[2] for k in heads if k[0] == src) + 1
        grid = [[float("nan")] * H for _ in range(L)]
        for (s, l, h), v in heads.items():
            if s == src:
                grid[l][h] = sum(v) / len(v)
        units = sorted({r["unit"] for r in rows if r["source"] == src})
        fig, ax = plt.subplots(figsize=(2.2 + 0.9 * H, 1.6 + 0.22 * L))
        im = ax.imshow(grid, aspect="auto", cmap="magma", vmin=0, vmax=1, origin="lower")
        ax.set_xlabel("KV head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(H))
        if L > 12:
            ax.set_yticks(range(0, L, 2))
        for l in range(L):
            for h in range(H):
                if not math.isnan(grid[l][h]):
                    ax.text(h, l, f"{grid[l][h]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if grid[l][h] < 0.5 else "black")
        fig.colorbar(im, ax=ax, label="elim_rate at δ = 1e-3 (mean over steps)")
        ax.set_title(f"{src}: elim_rate per layer × KV head\n(int8 witness, two-stage 5%; mean over {', '.join(units)})",
                     fontsize=8)
        save(fig, "frontier", f"heatmap_{src}")


def baselines_plots():
    rows = load("baselines")
    if not rows:
        return
    for src in sorted({r["source"] for r in rows}):
        rs = [r for r in rows if r["source"] == src]
        # per-layer rows → means over layers (and texts): grid budgets by target, matched budgets by what they match
        agg = defaultdict(list)
        for r in rs:
            tgt = r["target_frac"] if r["matched_to"] in ("grid", "dense") else "matched"
            agg[(r["family"], r["method"], r["matched_to"], tgt)].append(r)

        def pt(lst):
            return (mean([num(r, "kv_bytes_frac") for r in lst]), mean([num(r, "mass_lost_mean") for r in lst]),
                    mean([num(r, "out_rel_err_mean") for r in lst]))

        fig, ax = plt.subplots(1, 2, figsize=(13, 4.8))
        fig.subplots_adjust(wspace=0.25)
        methods = ["window", "h2o", "quest", "loki", "oracle_topk"]
        markers = dict(zip(methods, "s^vDo"))
        colors = dict(zip(methods, ["tab:purple", "tab:blue", "tab:red", "tab:orange", "tab:green"]))
        for meth in methods:
            grid = sorted(pt(lst) for (fam, m2, to, tg), lst in agg.items() if m2 == meth and to == "grid")
            matched = [pt(lst) for (fam, m2, to, tg), lst in agg.items() if m2 == meth and tg == "matched"]
            for k in (0, 1):
                if grid:
                    ax[k].plot([p[0] for p in grid], [max(p[k + 1], 1e-8) for p in grid], marker=markers[meth],
                               color=colors[meth], ls="-", label=f"{meth} (fixed budgets)" if k == 0 else None)
                for p in matched:
                    ax[k].plot([p[0]], [max(p[k + 1], 1e-8)], marker=markers[meth], color=colors[meth], ms=11,
                               mec="black", ls="none", label=f"{meth} at GhostKV's bytes" if k == 0 else None)
        for (fam, m2, to, tg), lst in agg.items():
            if fam == "ghostkv":
                p = pt(lst)
                for k in (0, 1):
                    ax[k].plot([p[0]], [max(p[k + 1], 1e-8)], "r*", ms=16, mec="black",
                               label=f"GhostKV: {m2}, δ = 1e-3" if k == 0 else None)
        ax[0].set_ylabel("attention mass lost, mean over (query, head)")
        ax[1].set_ylabel("output relative error ||o − ô|| / ||o||, mean")
        for a in ax:
            a.set_yscale("log")
            a.set_xlabel("kv_bytes_frac (bytes read / dense K,V in bf16; metadata counted)")
            a.grid(alpha=0.3)
        ax[0].legend(fontsize=6.5, ncol=2)
        units = sorted({r["unit"] for r in rs})
        fig.suptitle(f"Baselines vs GhostKV at matched bytes: {src}, real text ({', '.join(units)}), "
                     f"means over {len({(r['unit'], r['layer']) for r in rs})} (text, layer) pairs")
        save(fig, "baselines", f"baselines_{src}")


def tradeoff_plots():
    rows = load("tradeoff")
    if not rows:
        return
    for src in sorted({r["source"] for r in rows}):
        rs = [r for r in rows if r["source"] == src and r["layer"] == "all" and r["policy"].startswith("mass:")]
        if not rs:
            continue
        kind = rs[0]["data_kind"]
        fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
        for meth in sorted({r["method"] for r in rs}):
            pts = sorted((delta_of(r["policy"]), r) for r in rs if r["method"] == meth)
            x = [p[0] for p in pts]
            ax[0].plot(x, [num(p[1], "elim_rate_mean") for p in pts], "o-", label=meth)
            ax[1].plot([num(p[1], "kv_bytes_frac") for p in pts], [max(num(p[1], "mass_lost_mean"), 1e-9) for p in pts],
                       "o-", label=meth)
        ax[0].set_xscale("log")
        ax[0].set_xlabel("δ (certified mass budget per query head)")
        ax[0].set_ylabel("elim_rate, mean over steps")
        ax[1].set_yscale("log")
        ax[1].set_xlabel("kv_bytes_frac (all bytes read / dense K,V bf16)")
        ax[1].set_ylabel("attention mass lost, mean")
        for a in ax:
            a.grid(alpha=0.3)
        ax[0].legend(fontsize=7)
        fig.suptitle(f"Tradeoff: {src} ({kind}; {rs[0]['unit']}, {rs[0]['n_layers']} layer(s) pooled), mass policy, two-stage 5%")
        save(fig, "tradeoff", f"tradeoff_{src}")


def sketch_audit_plots():
    rows = [r for r in load("sketch-audit") if r.get("layer") == "all"]
    if not rows:
        return
    srcs = sorted({r["source"] for r in rows})
    meths = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    w = 0.8 / len(srcs)
    for i, s in enumerate(srcs):
        vals = {r["method"]: r for r in rows if r["source"] == s}
        xs = [j + i * w for j in range(len(meths))]
        viol = [num(vals[m], "violations") / max(num(vals[m], "candidates_checked"), 1) if m in vals else float("nan")
                for m in meths]
        kind = next(r["data_kind"] for r in rows if r["source"] == s)
        ax[0].bar(xs, [max(v, 1e-9) for v in viol], width=w, label=f"{s} ({kind})")
        ax[1].bar(xs, [num(vals[m], "recall_mean") if m in vals else float("nan") for m in meths], width=w, label=s)
    for a in ax:
        a.set_xticks([j + 0.4 - w / 2 for j in range(len(meths))])
        a.set_xticklabels(meths, rotation=30, ha="right", fontsize=7)
        a.grid(alpha=0.3, axis="y")
    ax[0].set_yscale("log")
    ax[0].set_ylabel("violations / candidates checked (1e-9 = none)")
    ax[1].set_ylabel("recall@16 of the bound's ranking, mean")
    ax[0].legend(fontsize=7)
    fig.suptitle("Sketch audit: bound violations (UB < exact score) and ranking quality per witness")
    save(fig, "sketch-audit", "sketch_audit")


def decode_sim_plots():
    rows = load("decode-sim")
    steps = [r for r in rows if r["row"] == "step"]
    if not steps:
        return
    for (src, tp) in sorted({(r["source"], r["tier_policy"]) for r in steps}):
        rs = sorted([r for r in steps if r["source"] == src and r["tier_policy"] == tp], key=lambda r: int(r["step"]))
        x = [int(r["step"]) for r in rs]
        fig, ax = plt.subplots(1, 3, figsize=(16.5, 4.2))
        fig.subplots_adjust(wspace=0.32)
        for t in ("hot", "warm", "ghost", "archive"):
            ax[0].plot(x, [num(r, f"tokens_{t}") for r in rs], label=t)
        ax[0].set_ylabel("tokens in the tier")
        for b in ("hot", "warm", "ghost", "archive", "meta"):
            ax[1].plot(x, [num(r, f"bytes_{b}") / 1024 for r in rs], label=b)
        ax[1].set_ylabel("bytes read per step (KiB)")
        ax[2].plot(x, [num(r, "ghost_us") for r in rs], label="GhostKV (tiers)")
        ax[2].plot(x, [num(r, "dense_hbm_us") for r in rs], label="dense, all K,V in HBM")
        ax[2].plot(x, [num(r, "dense_offload_us") for r in rs], label="dense, cold K,V offloaded")
        ax[2].set_yscale("log")
        ax[2].set_ylabel("modelled time per step and KV head (µs)")
        for a in ax:
            a.set_xlabel("decode step")
            a.grid(alpha=0.3)
            a.legend(fontsize=7)
        kind = rs[0]["data_kind"]
        fig.suptitle(f"Decode simulation: {src} ({kind}), tier policy {tp}, layer {rs[0]['layer']} KV head 0, "
                     f"δ = {rs[0]['delta']}; links {rs[0]['fast_gbps']} / {rs[0]['slow_gbps']} GB/s")
        save(fig, "decode-sim", f"decode_sim_{src.split(' ')[0]}_{tp}")


def bandwidth_plots():
    rows = [r for r in load("bandwidth") if r.get("point") == "grid"]
    if not rows:
        return
    ctxs = sorted({int(r["ctx"]) for r in rows})
    n = max(c for c in ctxs)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True)
    for a, scen in zip(ax, ("hbm", "offload", "cxl")):
        rs = [r for r in rows if r["scenario"] == scen and int(r["ctx"]) == n]
        for rec in sorted({num(r, "record_bytes") for r in rs}):
            pts = sorted((num(r, "survivor_frac"), num(r, "speedup")) for r in rs if num(r, "record_bytes") == rec)
            a.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"witness {rec:.0f} B/token")
        a.axhline(1, color="grey", lw=0.8)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("survivor fraction of candidates")
        a.set_title(f"{scen}: {rs[0]['slow_link'] or rs[0]['fast_link']}", fontsize=8)
        a.grid(alpha=0.3)
    ax[0].set_ylabel("modelled decode attention speedup vs dense (×)")
    ax[0].legend(fontsize=7)
    fig.suptitle(f"Bytes/time model (DESIGN §7), {rows[0]['shape']}, context {n}")
    save(fig, "bandwidth", "bandwidth")


def hierarchical_plots():
    rows = [r for r in load("hierarchical") if r.get("layer") == "all"]
    if not rows:
        return
    srcs = sorted({r["source"] for r in rows})
    fig, ax = plt.subplots(1, len(srcs), figsize=(5 * len(srcs), 4.2), squeeze=False)
    for a, s in zip(ax[0], srcs):
        rs = [r for r in rows if r["source"] == s]
        labels = list(dict.fromkeys(r["method"] for r in rs))
        for k, pol in enumerate(sorted({r["policy"] for r in rs})):
            vals = {r["method"]: r for r in rs if r["policy"] == pol}
            xs = [j + 0.4 * k for j in range(len(labels))]
            a.bar(xs, [num(vals[l], "elim_rate_mean") if l in vals else 0 for l in labels], width=0.4,
                  label=f"elim_rate {pol}", alpha=0.8)
            a.plot(xs, [num(vals[l], "anchor_elim_rate") if l in vals else 0 for l in labels], "k^",
                   label="anchor_elim_rate" if k == 0 else None)
        a.set_xticks([j + 0.2 for j in range(len(labels))])
        a.set_xticklabels(labels, rotation=25, ha="right", fontsize=7)
        a.set_ylabel("fraction of candidates")
        a.set_title(f"{s} ({rs[0]['data_kind']})", fontsize=9)
        a.grid(alpha=0.3, axis="y")
        a.legend(fontsize=7)
    fig.suptitle("Anchor → token cascade: eliminated in total and at the anchor level")
    save(fig, "hierarchical", "hierarchical")


def main():
    for f in (frontier_plots, baselines_plots, tradeoff_plots, sketch_audit_plots, decode_sim_plots, bandwidth_plots,
              hierarchical_plots):
        try:
            f()
        except Exception as e:  # one broken figure must not stop the others; say which
            print(f"plots: {f.__name__} failed: {type(e).__name__}: {e}", file=sys.stderr)
            raise


if __name__ == "__main__":
    main()
