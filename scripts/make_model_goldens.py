#!/usr/bin/env python3
"""Golden outputs from Hugging Face transformers (never from GhostKV) for the engine tests.

Run where torch + transformers are installed (the lent GPU machine has both; everything runs on its
CPU in float32 with eager attention):
    python3 scripts/make_model_goldens.py --ref-model DIR --corpus austen_persuasion.txt.xz --out OUT.tar.gz
It creates small randomly initialised HF checkpoints (Llama with GQA and rope_scaling llama3; Qwen2
with q/k/v bias; Mistral with a sliding window), saves them with save_pretrained, and for each model
and for ghostkv-ref-23m on a held-out passage writes subsampled goldens:
    ids.npy            int32 [n]        the input ids (no BOS added beyond what is listed)
    logit_rows.npy     int32 [R]        which rows are stored in full
    logits.npy         float32 [R, V]   those rows
    topk_ids.npy       int32 [n, 5], topk_vals.npy float32 [n, 5]   every row's top 5
    k_pos.npy          int32 [P]; k.npy, v.npy float32 [n_layer, P, n_head_kv, d_head]  post-RoPE cache
    greedy_prompt.npy  int32, greedy.npy int32 [32], greedy_gap.npy float32 [32] (top1 − top2 logit)
    meta.json          versions, shapes, what was run
"""
import argparse
import io
import json
import lzma
import os
import tarfile
import tempfile

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

torch.set_num_threads(max(1, os.cpu_count() or 1))


def load_f32(path):
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").eval()
    except TypeError:
        return AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, attn_implementation="eager").eval()


def cache_kv(cache, layer):
    if hasattr(cache, "layers"):
        return cache.layers[layer].keys, cache.layers[layer].values
    if hasattr(cache, "key_cache"):
        return cache.key_cache[layer], cache.value_cache[layer]
    return cache[layer][0], cache[layer][1]


@torch.no_grad()
def dump(model, ids, greedy_prompt, logit_rows, k_positions, folder, extra):
    os.makedirs(folder, exist_ok=True)
    x = torch.tensor([ids], dtype=torch.long)
    out = model(x, use_cache=True)
    logits = out.logits[0].float()
    n, V = logits.shape
    rows = [r for r in logit_rows if r < n]
    np.save(f"{folder}/ids.npy", np.asarray(ids, dtype=np.int32))
    np.save(f"{folder}/logit_rows.npy", np.asarray(rows, dtype=np.int32))
    np.save(f"{folder}/logits.npy", logits[rows].numpy().astype(np.float32))
    tv, ti = torch.topk(logits, 5, dim=-1)
    np.save(f"{folder}/topk_ids.npy", ti.numpy().astype(np.int32))
    np.save(f"{folder}/topk_vals.npy", tv.numpy().astype(np.float32))
    # a sliding-window cache keeps only the last Lc positions: store positions it still holds
    Lc = cache_kv(out.past_key_values, 0)[0].shape[2]
    first = n - Lc
    kp = sorted(set([p for p in k_positions if first <= p < n] + [first, n - 1]))
    ks, vs = [], []
    for layer in range(model.config.num_hidden_layers):
        k, v = cache_kv(out.past_key_values, layer)  # [1, Hkv, Lc, d], keys post-RoPE
        idx = [p - first for p in kp]
        ks.append(k[0, :, idx, :].permute(1, 0, 2).float().numpy())
        vs.append(v[0, :, idx, :].permute(1, 0, 2).float().numpy())
    np.save(f"{folder}/k_pos.npy", np.asarray(kp, dtype=np.int32))
    np.save(f"{folder}/k.npy", np.stack(ks).astype(np.float32))
    np.save(f"{folder}/v.npy", np.stack(vs).astype(np.float32))
    # greedy decoding step by step (full recompute each step: no cache subtleties), with the top-2 gap
    seq = list(greedy_prompt)
    gen, gaps = [], []
    for _ in range(32):
        lg = model(torch.tensor([seq], dtype=torch.long)).logits[0, -1].float()
        top = torch.topk(lg, 2)
        nxt = int(top.indices[0])
        gen.append(nxt)
        gaps.append(float(top.values[0] - top.values[1]))
        seq.append(nxt)
    np.save(f"{folder}/greedy_prompt.npy", np.asarray(greedy_prompt, dtype=np.int32))
    np.save(f"{folder}/greedy.npy", np.asarray(gen, dtype=np.int32))
    np.save(f"{folder}/greedy_gap.npy", np.asarray(gaps, dtype=np.float32))
    meta = {"transformers": transformers.__version__, "torch": torch.__version__, "n": n, "n_vocab": V,
            "attn_implementation": "eager", "dtype": "float32", "max_abs_logit": float(logits.abs().max())}
    meta.update(extra)
    with open(f"{folder}/meta.json", "w") as f:
        json.dump(meta, f, indent=2)


def tiny_models(root):
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM
    common = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.08, bos_token_id=1,
                  eos_token_id=2)
    made = []
    torch.manual_seed(1234)
    llama3 = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    try:
        cfg = LlamaConfig(num_key_value_heads=2, head_dim=16, tie_word_embeddings=False, rope_parameters=llama3, **common)
    except TypeError:
        cfg = LlamaConfig(num_key_value_heads=2, head_dim=16, tie_word_embeddings=False, rope_theta=10000.0,
                          rope_scaling={k: v for k, v in llama3.items() if k != "rope_theta"}, **common)
    m = LlamaForCausalLM(cfg)
    made.append(("tiny-llama-gqa-llama3", m, torch.float32))
    torch.manual_seed(1235)
    cfg = Qwen2Config(num_key_value_heads=2, tie_word_embeddings=True, use_sliding_window=False, **common)
    made.append(("tiny-qwen2-bias", Qwen2ForCausalLM(cfg), torch.float16))
    torch.manual_seed(1236)
    cfg = MistralConfig(num_key_value_heads=1, head_dim=16, sliding_window=16, tie_word_embeddings=False, **common)
    made.append(("tiny-mistral-swa", MistralForCausalLM(cfg), torch.bfloat16))
    paths = []
    for name, model, dt in made:
        p = os.path.join(root, "models", name)
        try:
            model.to(dt).save_pretrained(p, safe_serialization=True)
        except TypeError:
            model.to(dt).save_pretrained(p)
        paths.append((name, p, str(dt).replace("torch.", "")))
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref-model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-ref", type=int, default=4096)
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    # tiny random checkpoints: their files are part of the output
    rng = np.random.default_rng(5)
    for name, path, dt in tiny_models(work):
        model = load_f32(path)
        ids = rng.integers(3, 256, size=64).tolist()
        dump(model, ids, ids[:8], [0, 1, 17, 40, 63], [0, 1, 15, 16, 33, 63], os.path.join(work, "goldens", name),
             {"model": name, "weights_dtype": dt})
    # ghostkv-ref-23m on a held-out passage (austen_persuasion is held out of its training data)
    tok = AutoTokenizer.from_pretrained(a.ref_model)
    text = lzma.open(a.corpus, "rt", encoding="utf-8").read()
    start = len(text) // 3
    passage = text[start:start + 60000]
    ids = [0] + tok(passage, add_special_tokens=False)["input_ids"][: a.n_ref - 1]
    model = load_f32(a.ref_model)
    prompt = tok("<|endoftext|>It was a truth", add_special_tokens=False)["input_ids"]
    gdir = os.path.join(work, "goldens", "ref23m")
    dump(model, ids, prompt, [0, 1, 1000, 2047, 4095], [0, 1, 2048, 4095], gdir,
         {"model": "ghostkv-ref-23m", "weights_dtype": "bfloat16", "corpus": os.path.basename(a.corpus),
          "passage_char_offset": start, "bos_prepended": True})
    with tarfile.open(a.out, "w:gz") as tf:
        tf.add(os.path.join(work, "models"), arcname="models")
        tf.add(os.path.join(work, "goldens"), arcname="goldens")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
