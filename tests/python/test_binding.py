#!/usr/bin/env python3
"""The Python module against independent references: numpy float64 attention over the survivors
(soundness of the certificate, output), transformers goldens (logits, greedy ids) for a checkpoint,
and clear errors on bad input."""
import os
import sys

import numpy as np

import ghostkv

ROOT = os.environ.get("GHOSTKV_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def softmax64(s):
    p = np.exp(s - s.max())
    return p / p.sum()


def test_eliminate():
    x = ghostkv.synth(kind="structured", n_kv=1024, n_q=8, n_head_q=4, n_head_kv=2, d_head=64, seed=3)
    q, k, v, pos = x["q"], x["k"], x["v"], x["positions"]
    check(q.shape == (8, 4, 64) and k.shape == (1024, 2, 64) and pos.shape == (8,), f"synth shapes {q.shape} {k.shape}")
    for policy in ["mass:1e-3", "mass:1e-2", "rel:6"]:
        r = ghostkv.eliminate(q, k, v, positions=pos, policy=policy, witness="quant", bits="8", keep_arrays=True)
        check(r["violations"] == 0 and r["certificate_failures"] == 0, f"{policy}: {r['violations']} violations")
        sv, o = r["survivors"], r["output"]
        scale = 1 / np.sqrt(64)
        n_elim_total = 0
        for i in range(8):
            seen = int(pos[i]) + 1
            for h in range(4):
                g = h // 2
                s = scale * (k[:seen, g, :].astype(np.float64) @ q[i, h].astype(np.float64))
                p = softmax64(s)
                surv = sv[i, g, :seen].astype(bool)
                n_elim_total += int((~surv).sum()) if h % 2 == 0 else 0
                lost = p[~surv].sum()
                check(lost <= r["head_mass_bound"][i, h] * (1 + 1e-9) + 1e-300,
                      f"{policy}: q{i} h{h} mass lost {lost} above its certificate {r['head_mass_bound'][i, h]}")
                ps = softmax64(s[surv])
                o_ref = ps @ v[:seen, g, :][surv].astype(np.float64)
                err = np.linalg.norm(o[i, h] - o_ref) / max(np.linalg.norm(o_ref), 1e-30)
                check(err < 1e-4, f"{policy}: q{i} h{h} output vs numpy over survivors: rel err {err}")
                o_full = p @ v[:seen, g, :].astype(np.float64)
                check(np.linalg.norm(o_ref - o_full) <= r["head_out_err_bound"][i, h] * (1 + 1e-9) + 1e-12,
                      f"{policy}: q{i} h{h} elimination error {np.linalg.norm(o_ref - o_full)} above its "
                      f"certificate {r['head_out_err_bound'][i, h]}")
                check(np.linalg.norm(o[i, h] - o_ref) <= r["head_out_num_err_bound"][i, h],
                      f"{policy}: q{i} h{h} float32 error above its a-priori bound")
        check(n_elim_total == int(r["step_n_elim"].sum()), f"{policy}: survivors disagree with step_n_elim")
        if policy == "mass:1e-2":
            check(n_elim_total > 0, "mass:1e-2 on structured data eliminated nothing (the test would be vacuous)")


def test_errors():
    x = ghostkv.synth(kind="gaussian", n_kv=64, n_q=2, n_head_q=4, n_head_kv=2, d_head=16, seed=1)
    try:
        ghostkv.eliminate(x["q"], x["k"][:, :1, :], x["v"])
        check(False, "mismatched k/v head counts were accepted")
    except ghostkv.Error as e:
        check("k" in str(e) or "v" in str(e), f"error does not name the input: {e}")
    q = x["q"].copy()
    q[0, 0, 0] = np.nan
    try:
        ghostkv.eliminate(q, x["k"], x["v"])
        check(False, "NaN query accepted")
    except ghostkv.Error as e:
        check("q" in str(e), f"NaN error does not name q: {e}")
    try:
        ghostkv.eliminate(x["q"], x["k"], x["v"], policy="mass:nope")
        check(False, "bad policy accepted")
    except ghostkv.Error:
        pass
    try:
        ghostkv.Model("/nonexistent/model")
        check(False, "missing model accepted")
    except ghostkv.Error as e:
        check("/nonexistent/model" in str(e), f"missing model error does not name the path: {e}")


def test_model():
    d = os.path.join(ROOT, "tests", "data", "goldens", "tiny-llama-gqa-llama3")
    m = ghostkv.Model(os.path.join(ROOT, "tests", "data", "models", "tiny-llama-gqa-llama3"))
    cfg = m.config
    check(cfg["n_layer"] == 2 and cfg["n_head_kv"] == 2 and cfg["d_head"] == 16, f"config {cfg}")
    ids = np.load(os.path.join(d, "ids.npy")).tolist()
    rows = np.load(os.path.join(d, "logit_rows.npy"))
    gold = np.load(os.path.join(d, "logits.npy")).astype(np.float64)
    lg = m.logits(ids)
    check(lg.shape == (len(ids), cfg["n_vocab"]), f"logits shape {lg.shape}")
    rel = np.abs(lg[rows] - gold).max() / np.abs(gold).max()
    check(rel <= 1e-4, f"logits vs transformers golden: max rel {rel}")
    prompt = np.load(os.path.join(d, "greedy_prompt.npy")).tolist()
    greedy = np.load(os.path.join(d, "greedy.npy")).tolist()
    gap = np.load(os.path.join(d, "greedy_gap.npy"))
    out = m.generate(prompt, max_new=len(greedy), stop_at_eos=False)
    n_ok = 0
    for a, b, gp in zip(out, greedy, gap):
        if a != b:
            check(gp < 1e-4, f"greedy differs from transformers at a non-tie (gap {gp})")
            break
        n_ok += 1
    check(n_ok > 0, "greedy: not even the first token matches")
    cap = m.capture(ids, layers="0,1", queries="last:4")
    check(len(cap) == 2 and cap[1]["layer"] == 1, "capture layers")
    check(cap[0]["q"].shape == (4, 4, 16) and cap[0]["k"].shape == (len(ids), 2, 16), f"capture shapes {cap[0]['q'].shape}")
    r = ghostkv.eliminate(cap[1]["q"], cap[1]["k"], cap[1]["v"], positions=cap[1]["positions"], scale=cap[1]["scale"],
                          n_recent=8)
    check(r["violations"] == 0 and r["certificate_failures"] == 0, "violations on a real capture")
    try:
        m.encode("hello")
        check(False, "a model without tokenizer encoded text")
    except ghostkv.Error as e:
        check("tokenizer" in str(e), f"no-tokenizer error unclear: {e}")


def test_tokenizer_model():
    shared = os.path.join(os.path.dirname(ROOT), "shared")
    if not os.path.isdir(shared):
        print("SKIP test_tokenizer_model: ../shared does not exist on this machine")
        return
    m = ghostkv.Model(os.path.join(shared, "models", "stories260K", "stories260K.bin"))
    ids = m.encode("Once upon a time", add_bos=True)
    check(ids[0] == 1 and m.decode(ids[1:]).strip() == "Once upon a time", f"stories260K round trip {ids}")
    out = m.generate([1], max_new=20)
    text = m.decode(out)
    check(text.startswith("Once upon a time, there was a little girl named Lily."),
          f"stories260K greedy text (llama2.c reference) differs: {text!r}")


def test_generate_eliminated():
    shared = os.path.join(os.path.dirname(ROOT), "shared")
    if not os.path.isdir(shared):
        print("SKIP test_generate_eliminated: ../shared does not exist on this machine")
        return
    m = ghostkv.Model(os.path.join(shared, "models", "ghostkv-ref-23m"))
    import lzma
    text = lzma.open(os.path.join(shared, "corpora", "austen_persuasion.txt.xz"), "rt", encoding="utf-8").read()[:3000]
    prompt = m.encode(text, add_bos=True)
    r = m.generate_eliminated(prompt, max_new=4, stop_at_eos=False)
    n_layer = m.config["n_layer"]
    check(len(r["ids"]) == 4 and len(r["step"]) == 3 * n_layer, f"generate_eliminated: {len(r['ids'])} ids, {len(r['step'])} rows")
    check(int(r["violations"].sum()) == 0 and int(r["certificate_failures"].sum()) == 0, "generate_eliminated: failures")
    check(float(r["max_mass_bound"].max()) <= 1e-3 and float(r["attended_frac"].mean()) < 1.0,
          f"generate_eliminated: mass {r['max_mass_bound'].max()}, attended {r['attended_frac'].mean()}")
    check(r["ids"][0] == m.generate(prompt, max_new=1)[0], "the first token comes from the dense prefill")
    try:
        m.generate_eliminated(prompt, max_new=2, witness="proto")
        check(False, "witness proto accepted")
    except ghostkv.Error as e:
        check("quant or lowrank" in str(e), f"witness proto: {e}")


for t in [test_eliminate, test_errors, test_model, test_tokenizer_model, test_generate_eliminated]:
    t()
print(f"python_binding: {len(failures)} failures")
sys.exit(1 if failures else 0)
