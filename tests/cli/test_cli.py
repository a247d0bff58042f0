#!/usr/bin/env python3
"""CLI contract of `ghostkv eliminate`, checked from outside with numpy (an independent reader and
an independent float64 attention): JSON fields, output arrays, soundness of the written bounds,
the hot-token and causality rules, and clear errors on bad input."""
import csv
import json
import lzma
import os
import subprocess
import sys
import tempfile

import numpy as np

CLI = sys.argv[1]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def run(args):
    p = subprocess.run([CLI] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def bf16_bits(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def main():
    rng = np.random.default_rng(7)
    tmp = tempfile.mkdtemp(prefix="ghostkv_cli_")
    n_q, hq, hkv, d, n_kv = 5, 4, 2, 64, 300
    # structured enough that something is eliminated: low-rank keys, a few strong directions
    basis = rng.standard_normal((8, d))
    k = (rng.standard_normal((n_kv, hkv, 8)) @ basis + 0.1 * rng.standard_normal((n_kv, hkv, d))).astype(np.float32)
    v = rng.standard_normal((n_kv, hkv, d)).astype(np.float32)
    q = (3 * rng.standard_normal((n_q, hq, 8)) @ basis).astype(np.float32)
    pos = np.array([150, 200, 250, 280, 299], dtype=np.int32)
    f = {n: os.path.join(tmp, n + ".npy") for n in ["q", "k", "v", "p"]}
    np.save(f["q"], q)
    np.save(f["k"], k)
    np.save(f["v"], v)
    np.save(f["p"], pos)
    out = os.path.join(tmp, "out")
    for extra in ([], ["--witness", "lowrank", "--rank", "8", "--storage", "int8"], ["--two-stage", "0.05"],
                  ["--policy", "rel:4"], ["--policy", "topk:32"], ["--reference"]):
        rc, so, se = run(["eliminate", "--q", f["q"], "--k", f["k"], "--v", f["v"], "--positions", f["p"],
                          "--json", "--out", out] + extra)
        check(rc == 0, f"eliminate {extra} exit {rc}: {se}")
        if rc:
            continue
        r = json.loads(so)
        for key in ["violations", "certificate_failures", "elim_rate", "oracle_elim_rate", "kv_bytes_frac",
                    "mass_lost_max", "mass_bound_max", "out_rel_err_max", "out_num_err_max", "options"]:
            check(key in r, f"JSON lacks {key}")
        check(r["violations"] == 0, f"{extra}: violations {r['violations']}")
        check(r["certificate_failures"] == 0, f"{extra}: certificate failures {r['certificate_failures']}")
        ub = np.load(os.path.join(out, "upper_bound.npy"))
        sv = np.load(os.path.join(out, "survivors.npy"))
        o = np.load(os.path.join(out, "output.npy"))
        check(ub.dtype == np.float32 and ub.shape == (n_q, hq, n_kv), f"upper_bound {ub.dtype} {ub.shape}")
        check(sv.dtype == np.uint8 and sv.shape == (n_q, hkv, n_kv), f"survivors {sv.dtype} {sv.shape}")
        check(o.dtype == np.float32 and o.shape == (n_q, hq, d), f"output {o.dtype} {o.shape}")
        scale = 1 / np.sqrt(d)
        g = hq // hkv
        mass_lost_max = 0.0
        for i in range(n_q):
            seen = pos[i] + 1
            hot = set(range(min(4, seen))) | set(range(max(0, seen - 64), seen))
            for h in range(hq):
                kv = h // g
                s = scale * (k[:seen, kv, :].astype(np.float64) @ q[i, h].astype(np.float64))
                check(np.all(np.isneginf(ub[i, h, seen:])), "invisible keys must have -inf bound")
                check(np.all(ub[i, h, :seen].astype(np.float64) >= s - 1e-12 * np.abs(s)) or
                      np.all(ub[i, h, :seen][sorted(hot)] == s[sorted(hot)].astype(np.float32)),
                      f"bound below exact score at query {i} head {h}")
                cand = [t for t in range(seen) if t not in hot]
                surv = sv[i, kv, :seen].astype(bool)
                # two-stage tokens carry their exact score (rounded to float32), others a sound bound
                stage1 = [t for t in cand if surv[t] and ub[i, h, t] == np.float32(s[t])]
                bnd = [t for t in cand if t not in set(stage1)]
                check(np.all(ub[i, h, bnd].astype(np.float64) >= s[bnd]), f"{extra}: written bound < exact, q{i} h{h}")
                surv = sv[i, kv, :seen].astype(bool)
                p = np.exp(s - s.max())
                p /= p.sum()
                check(all(surv[t] for t in hot), f"hot token eliminated at query {i}")
                check(not sv[i, kv, seen:].any(), "invisible key marked as read")
                mass_lost_max = max(mass_lost_max, p[~surv].sum())
                ps = np.exp(s[surv] - s[surv].max())
                ps /= ps.sum()
                o_ref = ps @ v[:seen, kv, :][surv].astype(np.float64)
                err = np.linalg.norm(o[i, h] - o_ref) / max(np.linalg.norm(o_ref), 1e-30)
                # float32 scores carry ≈ (d+2)·2^-24·σ·Σ|q_j k_j| absolute error, which the softmax turns into
                # a relative error of the weights (and of the output) of about twice that
                abs_s = scale * (np.abs(k[:seen, kv, :].astype(np.float64)) @ np.abs(q[i, h].astype(np.float64)))
                tol = 4 * (d + 2) * 2.0**-24 * abs_s[surv].max() + 1e-6
                check(err < tol, f"{extra}: output differs from numpy attention over survivors: {err} > {tol}")
        check(abs(mass_lost_max - r["mass_lost_max"]) <= 1e-9 + 1e-6 * mass_lost_max,
              f"mass_lost_max {r['mass_lost_max']} vs numpy {mass_lost_max}")
        if "--policy" not in extra:
            check(r["mass_bound_max"] <= 1e-3 * (1 + 1e-6), f"mass policy bound {r['mass_bound_max']} > delta")

    # half-precision inputs are accepted (bf16 stored as uint16 bits)
    np.save(os.path.join(tmp, "k16.npy"), k.astype(np.float16))
    np.save(os.path.join(tmp, "vbf.npy"), bf16_bits(v))
    rc, so, se = run(["eliminate", "--q", f["q"], "--k", os.path.join(tmp, "k16.npy"), "--v",
                      os.path.join(tmp, "vbf.npy"), "--json"])
    check(rc == 0 and json.loads(so)["violations"] == 0, f"f16/bf16 inputs: {rc} {se}")

    # the prototype heuristic is not a bound: on its own Gaussian data it violates
    syn = os.path.join(tmp, "gauss")
    rc, so, se = run(["synth", "--kind", "gaussian", "--n-kv", "512", "--n-q", "4", "--out", syn])
    check(rc == 0, f"synth: {se}")
    rc, so, se = run(["eliminate", "--capture", syn, "--layer", "0", "--sketch", "proto", "--policy", "abs:0.5", "--json"])
    check(rc == 0 and json.loads(so)["violations"] > 0, f"proto heuristic should violate: {rc} {so[:200]} {se}")
    rc, so, se = run(["eliminate", "--capture", syn, "--layer", "0", "--json"])
    check(rc == 0 and json.loads(so)["violations"] == 0, "certified mode on gaussian data")

    # bad input: non-zero exit, one line 'ghostkv: error: ...' naming the file and values
    def bad(name, arr=None, raw=None):
        path = os.path.join(tmp, name)
        if arr is not None:
            np.save(path, arr)
        if raw is not None:
            with open(path, "wb") as fh:
                fh.write(raw)
        return path

    cases = [
        ("missing file", ["--q", os.path.join(tmp, "nope.npy"), "--k", f["k"], "--v", f["v"]], "nope.npy"),
        ("int q", ["--q", bad("qi.npy", q.astype(np.int32)), "--k", f["k"], "--v", f["v"]], "qi.npy"),
        ("heads", ["--q", bad("q3.npy", q[:, :3]), "--k", f["k"], "--v", f["v"]], "q3.npy"),
        ("nan", ["--q", f["q"], "--k", bad("knan.npy", np.where(np.arange(k.size).reshape(k.shape) == 77, np.nan, k).astype(np.float32)),
                 "--v", f["v"]], "knan.npy"),
        ("empty", ["--q", f["q"], "--k", bad("k0.npy", k[:0]), "--v", bad("v0.npy", v[:0])], "k0.npy"),
        ("positions", ["--q", f["q"], "--k", f["k"], "--v", f["v"], "--positions", bad("pbad.npy", np.array([1, 2, 3, 4, 300], np.int32))],
         "pbad.npy"),
        ("ndim", ["--q", bad("q2.npy", q[0]), "--k", f["k"], "--v", f["v"]], "q2.npy"),
        ("truncated", ["--q", f["q"], "--k", bad("ktr.npy", raw=open(f["k"], "rb").read()[:1000]), "--v", f["v"]], "ktr.npy"),
        ("v shape", ["--q", f["q"], "--k", f["k"], "--v", bad("vs.npy", v[:10])], "vs.npy"),
        ("policy", ["--q", f["q"], "--k", f["k"], "--v", f["v"], "--policy", "mass:2"], "mass"),
        ("bits", ["--q", f["q"], "--k", f["k"], "--v", f["v"], "--bits", "8x10"], "8x10"),
    ]
    for what, args, needle in cases:
        rc, so, se = run(["eliminate"] + args + ["--json"])
        lines = [line for line in se.splitlines() if line.strip()]
        check(rc != 0, f"bad input '{what}' accepted")
        check(len(lines) == 1 and lines[0].startswith("ghostkv: error:") and needle in lines[0],
              f"bad input '{what}': stderr was {se!r}")
    model_commands(tmp)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("cli contract: all checks passed")


def model_commands(tmp):
    """generate / logits / tokenize / capture on the committed tiny checkpoint and ../shared models."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.path.join(root, "tests", "data")
    tiny = os.path.join(data, "models", "tiny-llama-gqa-llama3")
    gold = os.path.join(data, "goldens", "tiny-llama-gqa-llama3")
    out = os.path.join(tmp, "logits.npy")
    rc, so, se = run(["logits", "--model", tiny, "--ids", os.path.join(gold, "ids.npy"), "--out", out])
    check(rc == 0, f"logits: {se}")
    if rc == 0:
        lg = np.load(out)
        ids = np.load(os.path.join(gold, "ids.npy"))
        check(lg.shape == (len(ids), 256) and lg.dtype == np.float32, f"logits shape {lg.shape}")
        rows = np.load(os.path.join(gold, "logit_rows.npy"))
        ref = np.load(os.path.join(gold, "logits.npy"))
        err = np.abs(lg[rows] - ref).max() / np.abs(ref).max()
        check(err <= 1e-4, f"logits CLI vs transformers: {err}")
    rc, so, se = run(["logits", "--model", tiny, "--ids", os.path.join(gold, "ids.npy"), "--out", out, "--rows", "last:3"])
    check(rc == 0 and np.load(out).shape == (3, 256), f"logits --rows last:3: {se}")
    rc, so, se = run(["logits", "--model", os.path.join(tmp, "no_model"), "--ids", os.path.join(gold, "ids.npy"), "--out", out])
    check(rc != 0 and se.startswith("ghostkv: error:") and "no_model" in se, f"missing model: {se!r}")
    cap = os.path.join(tmp, "cap_tiny")
    txt = os.path.join(tmp, "t.txt")
    shared = os.path.join(os.path.dirname(root), "shared")
    if not os.path.isdir(shared):
        print("SKIP: ../shared does not exist on this machine: no tokenizer/model-backed CLI checks")
        return
    ref = os.path.join(shared, "models", "ghostkv-ref-23m")
    # the golden passage: 60000 characters of the held-out corpus at the offset meta.json records
    meta = json.load(open(os.path.join(data, "goldens", "ref23m", "meta.json")))
    text = lzma.open(os.path.join(shared, "corpora", meta["corpus"]), "rt", encoding="utf-8").read()
    passage = text[meta["passage_char_offset"]: meta["passage_char_offset"] + 60000]
    want = np.load(os.path.join(data, "goldens", "ref23m", "ids.npy"))[1:200]
    rc, so, se = run(["tokenize", "--tokenizer", os.path.join(ref, "tokenizer.json"), "--text", passage[:3000]])
    got = [int(x) for x in so.split()] if rc == 0 else []
    check(got[: len(want)] == want.tolist()[: len(got[: len(want)])] and len(got) >= 100,
          f"tokenize vs transformers' ids: {se} {got[:10]} vs {want[:10].tolist()}")
    with open(txt, "w") as f:
        f.write(passage[:4000])
    rc, so, se = run(["capture", "--model", ref, "--text", txt, "--ctx", "300", "--queries", "last:8", "--layers", "0,7",
                      "--out", cap])
    check(rc == 0, f"capture: {se}")
    if rc == 0:
        man = json.load(open(os.path.join(cap, "manifest.json")))
        check(man["n_kv"] == 300 and man["layers"] == [0, 7] and abs(man["scale"] - 128 ** -0.5) < 1e-12, f"manifest {man}")
        k = np.load(os.path.join(cap, "layer_07", "k.npy"))
        q = np.load(os.path.join(cap, "layer_07", "q.npy"))
        p = np.load(os.path.join(cap, "layer_07", "positions.npy"))
        check(k.shape == (300, 2, 128) and q.shape == (8, 4, 128) and p.tolist() == list(range(292, 300)), "capture shapes")
        rc, so, se = run(["eliminate", "--capture", cap, "--layer", "7", "--json"])
        check(rc == 0 and json.loads(so)["violations"] == 0 and json.loads(so)["certificate_failures"] == 0,
              f"eliminate on a real capture: {se}")
    rc, so, se = run(["generate", "--model", os.path.join(shared, "models", "stories260K", "stories260K.bin"), "--max-new", "30"])
    check(rc == 0 and so.startswith("Once upon a time, there was a little girl named Lily."), f"generate stories260K: {so!r} {se}")
    # certified elimination in the decode loop: the reference checkpoint on 3000 characters of real text, 6 new tokens
    # (5 decode forwards x 8 layers through the witness path), each step checked against float64 attention
    stats = os.path.join(tmp, "elim.csv")
    rc, so, se = run(["generate", "--model", ref, "--prompt", passage[:3000], "--max-new", "6", "--eliminate", "mass:1e-3",
                      "--stats-csv", stats, "--compare-dense"])
    check(rc == 0 and "elimination (mass:1e-3, quant 8): 5 decode steps x 8 layers" in se
          and "0 bound violations, 0 certificate failures" in se and "dense generation:" in se,
          f"generate --eliminate: {se!r}")
    if rc == 0:
        with open(stats) as f:
            rows = list(csv.DictReader(f))
        check(len(rows) == 40 and all(r["violations"] == "0" and r["certificate_failures"] == "0" for r in rows)
              and max(float(r["max_mass_bound"]) for r in rows) <= 1e-3
              and min(float(r["attended_frac"]) for r in rows) < 1.0,
              f"generate --stats-csv: {len(rows)} rows {rows[:2]}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--compare-dense"])
    check(rc != 0 and "--compare-dense and --gpu go with --eliminate" in se, f"--compare-dense without --eliminate: {se!r}")
    # the GPU path in the decode loop (generate --gpu): refused without --eliminate and for another policy than mass;
    # a CUDA build without a GPU names the CUDA call, a build without CUDA says so; with a GPU it runs, every step checked
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--gpu"])
    check(rc != 0 and "--gpu go with --eliminate" in se, f"--gpu without --eliminate: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--eliminate", "mass:1e-3", "--anchors", "page"])
    check(rc != 0 and "--anchors page goes with --gpu" in se, f"--anchors page without --gpu: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--eliminate", "mass:1e-3", "--gpu", "--anchors", "kmeans"])
    check(rc != 0 and "--anchors takes none or page, got 'kmeans'" in se, f"--anchors kmeans: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--eliminate", "topk:5", "--gpu"])
    check(rc != 0 and ("takes the mass policy" in se or "built without CUDA" in se), f"--gpu with topk: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", passage[:2000], "--max-new", "3", "--eliminate", "mass:1e-3",
                      "--gpu", "--compare-dense"])
    check((rc != 0 and ("built without CUDA" in se or "GhostCache: cudaGetDeviceCount" in se))
          or (rc == 0 and "GPU quant 8" in se and " 0 bound violations, 0 certificate failures" in se
              and "dense generation (GPU, every token attended):" in se),
          f"generate --gpu: {se!r}")
    print("generate --gpu:", "ran on the GPU, every step checked" if rc == 0 else "refused here (no GPU or no CUDA build): "
          + se.strip().splitlines()[-1][:160])
    rc, so, se = run(["generate", "--model", ref, "--prompt", passage[:2000], "--max-new", "3", "--eliminate", "mass:1e-3",
                      "--gpu", "--bits", "4", "--anchors", "page"])
    check((rc != 0 and ("built without CUDA" in se or "GhostCache: cudaGetDeviceCount" in se))
          or (rc == 0 and "GPU quant 4, page anchors" in se and " 0 bound violations, 0 certificate failures" in se),
          f"generate --gpu --anchors page: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--eliminate", "mass:1e-3", "--gpu", "--witness",
                      "lowrank", "--rank", "8"])
    check(rc != 0 and ("lowrank at --rank 16" in se and "--rank 8" in se or "built without CUDA" in se),
          f"--gpu --witness lowrank --rank 8: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", passage[:2000], "--max-new", "3", "--eliminate", "mass:1e-3",
                      "--gpu", "--witness", "lowrank", "--anchors", "page"])
    check((rc != 0 and ("built without CUDA" in se or "GhostCache: cudaGetDeviceCount" in se))
          or (rc == 0 and "GPU lowrank r16, page anchors" in se and " 0 bound violations, 0 certificate failures" in se),
          f"generate --gpu --witness lowrank --anchors page: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--eliminate", "mass:1e-3", "--witness", "proto"])
    check(rc != 0 and "takes quant or lowrank" in se and "'proto'" in se, f"--witness proto: {se!r}")
    rc, so, se = run(["generate", "--model", ref, "--prompt", "x", "--eliminate", "mass"])
    check(rc != 0 and se.startswith("ghostkv: error:"), f"--eliminate mass (no value): {se!r}")


main()
