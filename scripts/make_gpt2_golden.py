#!/usr/bin/env python3
"""A tiny randomly initialised Hugging Face GPT-2 checkpoint and its golden outputs from transformers
(never from GhostKV), for tests/test_gpt2.cc and tests/test_model_golden.cc.

    python3 scripts/make_gpt2_golden.py [--corpus ../shared/corpora/moby_dick.txt.xz] [--out tests/data]

Writes
    OUT/models/tiny-gpt2/{config.json, model.safetensors (float16), tokenizer.json}
    OUT/goldens/tiny-gpt2/   the files scripts/make_model_goldens.py documents (ids, logits rows,
                             top-5 of every row, K/V cache at some positions, 32 greedy steps), computed
                             in float64 with eager attention, plus
        tok_text.txt, tok_ids.npy   a sentence and the ids the HF tokenizer gives it
The tokenizer is a byte-level BPE (GPT-2 style: ByteLevel pre-tokenizer, decoder and post-processor)
trained with `tokenizers` to 512 ids on the first 400 kB of the corpus (read, not copied).
The model: n_embd 64, 3 layers, 4 heads, n_inner 160, n_positions 128, tied lm_head; every LayerNorm
weight and bias and every projection bias is perturbed away from its initial 1 / 0, so a loader or
engine that drops one of them fails the golden.
"""
import argparse
import json
import lzma
import os
import sys

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_goldens import dump  # noqa: E402  (same golden format as the other tiny models)

N_VOCAB, N_POS = 512, 128
TOK_TEXT = "Hello world! It's GPT-2's byte-level BPE: 1234 numbers, naïve café —  two  spaces,\ttabs\nand lines.\n"


def train_tokenizer(corpus, path):
    text = lzma.open(corpus, "rt", encoding="utf-8").read()[:400_000]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=N_VOCAB, special_tokens=["<|endoftext|>"], show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer=tr)
    assert tok.get_vocab_size() == N_VOCAB, tok.get_vocab_size()
    tok.save(path)
    return tok


def make_model(eot):
    torch.manual_seed(2024)
    cfg = GPT2Config(vocab_size=N_VOCAB, n_positions=N_POS, n_embd=64, n_layer=3, n_head=4, n_inner=160,
                     activation_function="gelu_new", layer_norm_epsilon=1e-5, initializer_range=0.08,
                     bos_token_id=eot, eos_token_id=eot, tie_word_embeddings=True)
    m = GPT2LMHeadModel(cfg).eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(".bias"):  # LayerNorm and Conv1D biases start at 0
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif ".ln_" in name or name.startswith("transformer.ln_f"):  # LayerNorm weights start at 1
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
        m.transformer.wpe.weight.mul_(4.0)  # positions matter as much as tokens
    return m


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(here, "..", "..", "shared", "corpora", "moby_dick.txt.xz"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data"))
    a = ap.parse_args()
    mdir = os.path.join(a.out, "models", "tiny-gpt2")
    gdir = os.path.join(a.out, "goldens", "tiny-gpt2")
    os.makedirs(mdir, exist_ok=True)
    tok = train_tokenizer(a.corpus, os.path.join(mdir, "tokenizer.json"))
    eot = tok.token_to_id("<|endoftext|>")
    model = make_model(eot)
    model.to(torch.float16).save_pretrained(mdir, safe_serialization=True)
    gen_cfg = os.path.join(mdir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    # the golden: the float16 weights, widened, run in float64 (eager attention)
    ref = GPT2LMHeadModel.from_pretrained(mdir, attn_implementation="eager").to(torch.float64).eval()
    rng = np.random.default_rng(11)
    ids = [eot] + rng.integers(0, N_VOCAB, size=N_POS - 1).tolist()  # the whole context
    dump(ref, ids, ids[:8], [0, 1, 17, 63, N_POS - 1], [0, 1, 15, 64, N_POS - 1], gdir,
         {"model": "tiny-gpt2", "weights_dtype": "float16", "dtype": "float64",
          "tokenizer_corpus": os.path.basename(a.corpus) + " (first 400000 characters)"})
    with open(os.path.join(gdir, "tok_text.txt"), "w", encoding="utf-8") as f:
        f.write(TOK_TEXT)
    np.save(os.path.join(gdir, "tok_ids.npy"), np.asarray(tok.encode(TOK_TEXT).ids, dtype=np.int32))
    print("wrote", mdir, gdir, "transformers", transformers.__version__)


if __name__ == "__main__":
    main()
