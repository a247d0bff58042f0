#!/usr/bin/env python3
"""Turns a device run of scripts/gpu_bench.sh into results/gpu/ and the tables of docs/gpu.md.

  scripts/gpu_report.py RUN_DIR        (RUN_DIR holds gpu_bench.csv, gpu_tier.csv, gpu_torch.csv, ncu.csv)

Writes results/gpu/{gpu_bench,gpu_tier,gpu_torch,gpu_ncu}.csv, results/gpu/device.txt (the run's nvidia-smi -q
record, where it has one) and results/gpu/tables.md, and replaces
the text between `<!-- gpu-tables:begin -->` and `<!-- gpu-tables:end -->` in docs/gpu.md and the headline
paragraph of README.md and docs/gpu.md (scripts/gpu_headline.py).
"""
import csv
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []


def ncu_rows(path):
    if not os.path.exists(path):
        return []
    rows = list(csv.reader(line for line in open(path) if line.startswith('"')))
    if len(rows) < 3:
        return []
    ix = {h: i for i, h in enumerate(rows[0])}
    out = []
    for r in rows[2:]:
        kname = r[ix["Kernel Name"]]
        name = kname[: kname.index("(")] if "(" in kname else kname
        name = name.replace("void ", "").split("::")[-1]
        num = lambda k: float(r[ix[k]].replace(",", ""))  # noqa: E731
        out.append({"kernel": name, "grid": r[ix["Grid Size"]], "dram_read_bytes": int(num("dram__bytes_read.sum")),
                    "dram_write_bytes": int(num("dram__bytes_write.sum")), "time_us": num("gpu__time_duration.sum") / 1e3})
    return out


def f(x, nd=3):
    return f"{float(x):.{nd}f}"


def row_label(r):
    """The table's label of a gpu_bench.csv row: forced / real / per-KV-head / certified, with its marks (the pages an
    anchored forced row keeps, balanced splits, the split cut's blocks)."""
    lab = r["label"]
    anc = r.get("anchors") == "1"
    if lab.startswith("forced:"):
        fr = float(lab.split(":")[1])
        lab = "forced %g%%" % (100 * fr)
        if anc:
            lab += " (pages %g%% forced)" % (100 * min(1.0, 4 * fr))
    elif lab.startswith("real:"):
        lab = "real " + lab.split(":")[1] + " (8-bit cert.)"
    elif lab.startswith("real-heads:"):  # each (sequence, KV head) at a capture pair's own certified fraction
        lab = "real " + lab.split(":")[1] + " per KV head (8-bit cert.)"
        if r.get("balanced") == "1":
            lab += " [balanced splits]"
    else:
        lab = "certified (synthetic far pages)" if "far" in r["case"] else "certified (random data)"
    if r.get("cut_blocks") not in (None, "", "0"):  # DecodeParams::cut_split (CSVs before it lack the column)
        lab += " [split cut, %s blocks]" % r["cut_blocks"]
    return lab


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    run = sys.argv[1]
    if not os.path.isfile(os.path.join(run, "gpu_bench.csv")):  # nothing is written without a run to report
        print(f"gpu_report.py: {os.path.join(run, 'gpu_bench.csv')} not found (RUN_DIR must hold a device run)",
              file=sys.stderr)
        return 1
    dst = os.path.join(ROOT, "results", "gpu")
    os.makedirs(dst, exist_ok=True)
    bench = read(os.path.join(run, "gpu_bench.csv"))
    tier = read(os.path.join(run, "gpu_tier.csv"))
    torch = read(os.path.join(run, "gpu_torch.csv"))
    ncu = ncu_rows(os.path.join(run, "ncu.csv"))
    ncu_anc = ncu_rows(os.path.join(run, "ncu_anc.csv"))
    for name in ("gpu_bench.csv", "gpu_tier.csv", "gpu_torch.csv", "scan_sections.txt", "log.txt", "device.txt"):
        if os.path.exists(os.path.join(run, name)):
            shutil.copyfile(os.path.join(run, name), os.path.join(dst, name))
        elif name == "device.txt" and os.path.exists(os.path.join(dst, name)):
            os.remove(os.path.join(dst, name))  # an older run's device record does not describe this run
    for rows, name in ((ncu, "gpu_ncu.csv"), (ncu_anc, "gpu_ncu_anchors.csv")):
        if rows:
            with open(os.path.join(dst, name), "w") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(rows)
    torch_ms = {(int(r["batch"]), int(r["n_kv"])): float(r["torch_ms"]) for r in torch}
    device = bench[0]["device"].split(";")[0] if bench else "?"
    commit = bench[0]["commit"] if bench else "?"
    copy = max(float(r["copy_gbps"]) for r in bench) if bench else 0
    L = []
    L.append(f"Device: {bench[0]['device'] if bench else '?'}; commit {commit}; measured copy bandwidth "
             f"{copy:.0f} GB/s (device-to-device, read + write). Times: median of 20-30 CUDA-graph replays "
             f"after warm-up, L2 flushed before each (a 256 MB memset read back, so no written line is left to "
             f"write back inside the timed region; the runs up to f9891a4 flushed by the memset alone). "
             f"`floor` = bytes of the phase / copy bandwidth, the hot keys counted once per KV head (a run "
             f"before 33e9358 counted them per query head: its floors re-derived by scripts/gpu_fix_hot_bytes.py).")
    L.append("")
    L.append("### Main shapes (Hq 32, Hkv 8, d 128, bf16; witness int8 (b8), int4 (b4), mixed 8x32,4x96 or low-rank r16; page = scale group = 64 tokens)")
    L.append("")
    L.append("Cases ending in `-anc` run the anchor stage (page boxes over the codes, or over the sketches for low-rank); `pages read` = the fraction of "
             "pages whose codes the scan read. With anchors, FORCED rows keep min(1, 4f) of the pages (by a hash, "
             "labelled) and f/that of the tokens in them; `-far` cases are SYNTHETIC keys where a share of the pages "
             "lies far below every query of its group, and their certified rows are certified on those keys.")
    # the attention's split count per row (runs since ef3ee59): marked where a row took more than its case's fewest
    fewest = {}
    for r in bench:
        if r.get("splits"):
            fewest[r["case"]] = min(fewest.get(r["case"], 1 << 30), int(r["splits"]))
    if any(r.get("splits") and int(r["splits"]) > fewest[r["case"]] for r in bench):
        L.append("")
        L.append("Stage 2 runs one wave of attention splits per KV head, or two waves where one wave gives fewer "
                 "than 4 splits per KV head and the row's survivors per KV head reach 2048 per split of two waves "
                 "(`ghost_splits`, decode.h; column `splits` of the CSV): those rows are marked [N splits]. The count "
                 "is chosen from the row's own survivor count (at run time: the previous step's). Dense keeps one wave.")
    L.append("")
    L.append("| case | survivors | pages read | stage 1 ms (×floor) | stage 2 ms (×floor) | ghost ms (×floor) | our dense ms (×floor) | torch SDPA ms | ghost vs torch | adaptive ms (path) | adaptive / torch |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in bench:
        if r["case"].startswith(("check", "ref23m", "smollm2")):
            continue
        key = (int(r["batch"]), int(r["n_kv"]))
        t = torch_ms.get(key)
        lab = row_label(r)
        dense_floor = float(r["dense_ms"]) / float(r["dense_vs_floor"])
        sp = int(r["splits"]) if r.get("splits") else 0
        sp_mark = " [%d splits]" % sp if sp and sp > fewest[r["case"]] else ""
        L.append("| %s%s | %s: %s | %s | %s (%s) | %s (%s)%s | %s (%s) | %s (%s) | %s | %s | %s (%s) | %s |" % (
            r["case"], "", lab, f(r["surv_frac"], 3), f(r.get("pages_read_frac") or 1, 3), f(r["stage1_ms"]), f(r["stage1_vs_floor"], 2), f(r["stage2_ms"]),
            f(r["stage2_vs_floor"], 2), sp_mark, f(r["ghost_ms"]), f(r["ghost_vs_floor"], 2), f(r["dense_ms"]),
            f(float(r["dense_ms"]) / dense_floor, 2), f(t) if t else "-",
            ("%.2f×" % (t / float(r["ghost_ms"]))) if t else "-", f(r["adaptive_ms"]), r["adaptive_path"],
            ("%.2f" % (float(r["adaptive_ms"]) / t)) if t else "-"))
    L.append("")
    viol = sum(int(r["violations"]) for r in bench)
    fails = sum(int(r[k]) for r in bench for k in ("rule_fail", "cert_fail", "num_fail", "nonfinite"))
    L.append("`ghost vs torch` > 1 means the ghost path is faster than torch SDPA. Over all %d rows of this run: "
             "%d bound violations, %d certificate / GQA-rule / numeric / non-finite failures (columns in "
             "results/gpu/gpu_bench.csv)." % (len(bench), viol, fails))
    L.append("")
    L.append("### Correctness runs (small shapes and real captures, checked in float64)")
    L.append("")
    L.append("| case | label | survivors | pages read | violations | failures | max mass_bound | max mass_lost | max ‖ô−ô_ref‖/‖ô_ref‖ | dense rel err |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in bench:
        if not r["case"].startswith(("check", "ref23m", "smollm2")):
            continue
        fails = sum(int(r[k]) for k in ("rule_fail", "cert_fail", "num_fail", "nonfinite"))
        L.append(f"| {r['case']} | {r['label']} | {f(r['surv_frac'])} | {f(r.get('pages_read_frac') or 1)} | {r['violations']} | {fails} | "
                 f"{float(r['max_mass_bound']):.2e} | {float(r['max_mass_lost']):.2e} | {float(r['max_num_err']):.1e} | "
                 f"{float(r['dense_rel_err']):.1e} |")
    if bench:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import gpu_acceptance
        L.append("")
        L.append("### Acceptance criteria, computed from the rows above (`scripts/gpu_acceptance.py`)")
        L.append("")
        L.append(gpu_acceptance.table(bench, torch).rstrip("\n"))
    if tier:
        L.append("")
        L.append("### Ghost tier over PCIe (1 × 128K; K, V of every token in host pinned memory, zero-copy reads of the survivors)")
        L.append("")
        L.append(f"Moving the whole tier (H2D copy of K and V, {float(tier[0]['move_bytes']) / 1e6:.0f} MB at "
                 f"{float(tier[0]['h2d_gbps']):.1f} GB/s, then dense attention): {f(tier[0]['move_tier_ms'])} ms per step.")
        L.append("")
        L.append("| survivors | MB over PCIe | stage 1 + zero-copy stage 2 ms | vs moving the tier |")
        L.append("|---|---|---|---|")
        for r in tier:
            L.append(f"| {float(r['surv_frac']) * 100:g}% | {float(r['zero_copy_bytes']) / 1e6:.1f} | {f(r['zero_copy_ms'])} | "
                     f"{float(r['zero_copy_ms']) / float(r['move_tier_ms']):.3f} |")
    if ncu:
        L.append("")
        L.append("### Nsight Compute DRAM bytes (1 × 128K, int8 witness, ghost path forced to 5% survivors, then dense)")
        L.append("")
        L.append("| kernel | grid | DRAM read MB | DRAM write MB | time µs (under ncu) |")
        L.append("|---|---|---|---|---|")
        for r in ncu:
            L.append(f"| {r['kernel']} | {r['grid']} | {r['dram_read_bytes'] / 1e6:.2f} | {r['dram_write_bytes'] / 1e6:.2f} | "
                     f"{r['time_us']:.1f} |")
    if ncu_anc:
        L.append("")
        L.append("### Nsight Compute DRAM bytes with anchors (1 × 128K, int4 witness, FORCED: 20% of pages, 5% survivors)")
        L.append("")
        L.append("| kernel | grid | DRAM read MB | DRAM write MB | time µs (under ncu) |")
        L.append("|---|---|---|---|---|")
        for r in ncu_anc:
            L.append(f"| {r['kernel']} | {r['grid']} | {r['dram_read_bytes'] / 1e6:.2f} | {r['dram_write_bytes'] / 1e6:.2f} | "
                     f"{r['time_us']:.1f} |")
    text = "\n".join(L) + "\n"
    open(os.path.join(dst, "tables.md"), "w").write(text)
    doc = os.path.join(ROOT, "docs", "gpu.md")
    if os.path.exists(doc):
        d = open(doc).read()
        a, b = "<!-- gpu-tables:begin -->", "<!-- gpu-tables:end -->"
        if a in d and b in d:
            d = d[: d.index(a) + len(a)] + "\n" + text + d[d.index(b):]
            open(doc, "w").write(d)
    # the headline paragraph of README.md and docs/gpu.md (scripts/gpu_headline.py), from the rows just written
    import gpu_headline
    try:
        head = gpu_headline.headline(bench, torch)  # the rows read above (the same files, copied to results/gpu)
        for path in (os.path.join(ROOT, "README.md"), doc):
            if os.path.exists(path) and gpu_headline.has_block(open(path).read()):
                gpu_headline.put(path, head)
    except (ValueError, OSError) as e:
        print(f"gpu_report.py: no headline written ({e})", file=sys.stderr)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
