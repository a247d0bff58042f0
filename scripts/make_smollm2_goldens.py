#!/usr/bin/env python3
"""Golden outputs of SmolLM2-135M-Instruct (Q4_1 GGUF) from Hugging Face transformers, never from GhostKV.

transformers loads the same GGUF file (gguf_file=…, dequantised by the `gguf` package, Q/K rows
un-permuted by its GGUF loader) in float32 with eager attention on the CPU, and runs a 2048-token
held-out passage of ../shared/corpora/austen_persuasion.txt.xz (the UTF-8 byte slice is recorded in
meta.json; no corpus text is written). Output folder (default tests/data/goldens/smollm2):
    ids.npy            int32 [2048]      the passage ids (HF tokenizer from the GGUF, no BOS)
    logit_rows.npy     int32 [R]; logits.npy float32 [R, V]         full rows
    sub_rows.npy       int32 [S]; sub_vocab.npy int32 [C]; sub_logits.npy float32 [S, C]  a vocab subset
    topk_ids.npy       int32 [n, 5], topk_vals.npy float32 [n, 5]   every row's top 5
    k_layers.npy int32 [Lk]; k_pos.npy int32 [P]; k.npy float32 [Lk, P, n_head_kv, d_head]  post-RoPE K
    greedy_prompt.npy  int32, greedy.npy int32 [32], greedy_gap.npy float32 [32] (top1 − top2 logit)
    tokenizer_cases.json  [{"text": …, "ids": […]}] short strings through the same HF tokenizer
    meta.json          versions, the corpus slice, what was run
Usage: source scripts/env.sh; python3 scripts/make_smollm2_goldens.py [--gguf PATH] [--out DIR]
"""
import argparse
import json
import lzma
import os

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

N_TOK = 2048


def cache_keys(cache, layer):
    if hasattr(cache, "layers"):
        return cache.layers[layer].keys
    if hasattr(cache, "key_cache"):
        return cache.key_cache[layer]
    return cache[layer][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.environ.get("GHOSTKV_SMOLLM2"))
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpora",
                                                     "austen_persuasion.txt.xz"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "goldens",
                                                  "smollm2"))
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    d, name = os.path.dirname(os.path.abspath(a.gguf)), os.path.basename(a.gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    try:
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32,
                                                     attn_implementation="eager").eval()
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, torch_dtype=torch.float32,
                                                     attn_implementation="eager").eval()
    cfg = model.config
    # SmolLM2 ties the classifier to the embedding (the GGUF has no output.weight).
    tied = bool(torch.equal(model.lm_head.weight, model.model.embed_tokens.weight))
    assert tied, "transformers did not tie lm_head to token_embd"

    raw = lzma.open(a.corpus, "rb").read()
    # A slice that starts and ends at line breaks (valid UTF-8), two thirds into the book.
    b0 = raw.index(b"\n", 2 * len(raw) // 3) + 1
    b1 = raw.index(b"\n", b0 + 14000) + 1
    text = raw[b0:b1].decode("utf-8")
    all_ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(all_ids) > N_TOK + 16, len(all_ids)
    ids = all_ids[:N_TOK]

    os.makedirs(a.out, exist_ok=True)
    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long), use_cache=True)
    logits = out.logits[0].float()
    n, V = logits.shape
    full_rows = [1000, n - 1]
    sub_rows = [0, 1, 2, 3, 7, 31, 100, 255, 511, 777, 1023, 1024, 1500, 1999, 2046, 2047]
    rng = np.random.default_rng(2048)
    sub_vocab = np.sort(rng.choice(V, size=2048, replace=False)).astype(np.int32)
    np.save(f"{a.out}/ids.npy", np.asarray(ids, dtype=np.int32))
    np.save(f"{a.out}/logit_rows.npy", np.asarray(full_rows, dtype=np.int32))
    np.save(f"{a.out}/logits.npy", logits[full_rows].numpy().astype(np.float32))
    np.save(f"{a.out}/sub_rows.npy", np.asarray(sub_rows, dtype=np.int32))
    np.save(f"{a.out}/sub_vocab.npy", sub_vocab)
    np.save(f"{a.out}/sub_logits.npy", logits[sub_rows][:, sub_vocab].numpy().astype(np.float32))
    tv, ti = torch.topk(logits, 5, dim=-1)
    np.save(f"{a.out}/topk_ids.npy", ti.numpy().astype(np.int32))
    np.save(f"{a.out}/topk_vals.npy", tv.numpy().astype(np.float32))
    k_layers = [0, 1, 14, cfg.num_hidden_layers - 1]
    k_pos = [0, 1, 2, 63, 64, 1000, 2046, 2047]
    ks = []
    for layer in k_layers:
        k = cache_keys(out.past_key_values, layer)  # [1, n_head_kv, n, d_head], post-RoPE
        ks.append(k[0, :, k_pos, :].permute(1, 0, 2).float().numpy())
    np.save(f"{a.out}/k_layers.npy", np.asarray(k_layers, dtype=np.int32))
    np.save(f"{a.out}/k_pos.npy", np.asarray(k_pos, dtype=np.int32))
    np.save(f"{a.out}/k.npy", np.stack(ks).astype(np.float32))

    # greedy decoding from a chat prompt, full recompute each step, with the top-2 gap
    prompt_text = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                   "<|im_end|>\n<|im_start|>user\nWhat is the capital of France? Answer in one sentence."
                   "<|im_end|>\n<|im_start|>assistant\n")
    prompt = tok(prompt_text, add_special_tokens=False)["input_ids"]
    seq, gen, gaps = list(prompt), [], []
    with torch.no_grad():
        for _ in range(32):
            lg = model(torch.tensor([seq], dtype=torch.long)).logits[0, -1].float()
            top = torch.topk(lg, 2)
            gen.append(int(top.indices[0]))
            gaps.append(float(top.values[0] - top.values[1]))
            seq.append(gen[-1])
    np.save(f"{a.out}/greedy_prompt.npy", np.asarray(prompt, dtype=np.int32))
    np.save(f"{a.out}/greedy.npy", np.asarray(gen, dtype=np.int32))
    np.save(f"{a.out}/greedy_gap.npy", np.asarray(gaps, dtype=np.float32))

    cases = ["Hello world", " Hello, world!", "It was 1814; she said 12345 times.", "naïve café — “quotes”",
             "  two  spaces\n\nnewlines\ttab", "<|im_start|>user\nHi<|im_end|>", "emoji 🦙 and 漢字", "x" * 40,
             "I'm sure they'll've DONE it", prompt_text]
    tc = [{"text": s, "ids": tok(s, add_special_tokens=False)["input_ids"]} for s in cases]
    with open(f"{a.out}/tokenizer_cases.json", "w", encoding="utf-8") as f:
        json.dump(tc, f, ensure_ascii=False, indent=1)
    import gguf as gguf_pkg  # noqa: F401  (its presence is what transformers' loader needs)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__, "model": name,
            "dtype": "float32", "attn_implementation": "eager", "n": n, "n_vocab": V,
            "corpus": "austen_persuasion", "corpus_byte_start": b0, "corpus_byte_len": b1 - b0,
            "passage_ids_total": len(all_ids), "bos_prepended": False,
            "max_abs_logit": float(logits.abs().max()), "greedy_text": tok.decode(gen)}
    with open(f"{a.out}/meta.json", "w") as f:
        json.dump(meta, f, indent=2, ensure_ascii=False)
    print(json.dumps(meta, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
