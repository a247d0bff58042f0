#!/usr/bin/env python3
"""scripts/gpu_headline.py: the paragraph of a worked run (speeds = torch's time / ours per forced fraction and
shape, the real-capture ranges at the mean and per KV head, the adaptive worst case and the best 5 % row against
8×, a violation counted), a clear error for a run without the rows it needs, and the blocks of README.md and
docs/gpu.md are its output on results/gpu/."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_headline  # noqa: E402
from checks import Checks  # noqa: E402


def row(case, label, ghost_ms, dense_ms="0.110", adaptive_ms=None, viol=0, surv="0.05"):
    shape = case.split("-")[0]
    batch, n = ("1", "131072") if shape == "1x128K" else ("32", "32768")
    return dict(device="NVIDIA H200; 580; 1980 MHz", commit="abc1234", case=case, label=label, batch=batch, n_kv=n,
                ghost_ms=ghost_ms, dense_ms=dense_ms, adaptive_ms=adaptive_ms or ghost_ms, violations=str(viol),
                rule_fail="0", cert_fail="0", num_fail="0", nonfinite="0", surv_frac=surv)


def main():
    check = Checks()
    torch = [dict(batch="1", n_kv="131072", torch_ms="0.1000"), dict(batch="32", n_kv="32768", torch_ms="1.0000")]
    rows = []
    for shape, scale in (("1x128K", 0.1), ("32x32K", 1.0)):
        for label, ms in (("forced:0.010000", 0.25), ("forced:0.050000", 0.5 if scale < 1 else 0.45),
                          ("forced:0.200000", 0.8)):
            rows.append(row(f"{shape}-b8", label, "%.4f" % (ms * scale), dense_ms="%.4f" % (1.05 * scale)))
        rows.append(row(f"{shape}-b8", "real:ref23m-L4", "%.4f" % (0.9 * scale), dense_ms="%.4f" % (1.05 * scale),
                        surv="0.30"))
        rows.append(row(f"{shape}-b8", "real:ref23m-L1", "%.4f" % (1.25 * scale), dense_ms="%.4f" % (1.05 * scale),
                        adaptive_ms="%.4f" % ((1.05 if scale < 1 else 1.04) * scale), surv="0.75"))
        rows.append(row(f"{shape}-b8", "real-heads:ref23m-L4", "%.4f" % (scale / 0.8), dense_ms="%.4f" % (1.05 * scale),
                        adaptive_ms="%.4f" % ((1.05 if scale < 1 else 1.04) * scale), surv="0.27"))
    rows.append(row("check-rand8", "forced:0.050000", "0.0001", viol=2))  # not a main shape: its speed is not shown
    h = gpu_headline.headline(rows, torch)
    check("13 rows checked against float64, 2 bound violations" in h, "counts: " + h)
    check("our dense kernel takes 1.05× torch's time" in h, "dense: " + h)
    check("int8 4.00 / 2.00 / 1.25× and 4.00 / 2.22 / 1.25×" in h and "int4" not in h, "forced speeds: " + h)
    check("mean fraction: 0.80-1.11× at 1 × 128K (survivors 30-75 %)" in h, "real rows: " + h)
    check("own certified fraction, as a real step has them: 0.80× at 1 × 128K (survivors 27 %)" in h,
          "per-head rows: " + h)
    check("at worst 1.050× torch's time (1x128K-b8;" in h, "adaptive: " + h)
    check("Best row at 5 % forced survivors: 32x32K-b8, 2.22× torch (the target: ≥ 8×, not met)." in h, "best: " + h)
    try:
        gpu_headline.headline([r for r in rows if not r["label"].startswith("forced")], torch)
        check(False, "a run without forced rows must raise")
    except ValueError as e:
        check("no witness has forced rows" in str(e), "error names what is missing: %s" % e)
    try:
        gpu_headline.headline([r for r in rows if not r["case"].startswith("32x32K")], torch)
        check(False, "a run without 32 × 32K rows must raise")
    except ValueError as e:
        check("no 32x32K rows" in str(e), "error names the missing shape: %s" % e)
    with tempfile.TemporaryDirectory() as d:  # a file without a whole block is refused, and left as it was
        p = os.path.join(d, "x.md")
        for text in ("no block\n", gpu_headline.END + "\n" + gpu_headline.BEGIN + " -->\n"):
            open(p, "w").write(text)
            try:
                gpu_headline.put(p, "x")
                check(False, "put without a whole block must raise")
            except ValueError:
                check(open(p).read() == text, "put left the file as it was")
    with tempfile.TemporaryDirectory() as d:  # the command names a run folder that lacks its files
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_headline.py"), d], capture_output=True,
                           text=True)
        check(r.returncode == 1 and "gpu_bench.csv not found" in r.stderr, "missing run: %d %s" % (r.returncode, r.stderr))
    # the blocks of README.md and docs/gpu.md are the script's output on the recorded run
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_headline.py")], capture_output=True,
                       text=True)
    check(r.returncode == 0 and r.stdout.startswith("GPU decode step on one"), "recorded run: " + r.stderr)
    for doc in ("README.md", os.path.join("docs", "gpu.md")):
        text = open(os.path.join(ROOT, doc)).read()
        block = text[text.index("\n", text.index(gpu_headline.BEGIN)) + 1: text.index(gpu_headline.END)]
        check(block == r.stdout, doc + "'s GPU headline is stale (scripts/gpu_headline.py --write)")
    return check.done("gpu_headline")


if __name__ == "__main__":
    sys.exit(main())
