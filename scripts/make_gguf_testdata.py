#!/usr/bin/env python3
"""Writes the small GGUF test files of tests/data/gguf/ with the `gguf` package (llama.cpp's gguf-py).

  dequant.gguf   for each ggml type T in F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0: tensor "T" holding
                 seeded random data (Gaussian, heavy-tailed, an outlier channel, constant and all-zero
                 rows) quantised by gguf.quants.quantize, and "T.ref" (F32) = gguf.quants.dequantize of
                 those bytes: numpy's float32 reading of ggml's definition, the reference for our C++.
                 "perm.src" [n_head·d_head, d_in] and "perm.dst" = llama.cpp's converter permutation
                 (reshape(n_head, 2, d_head/2, d_in).swapaxes(1, 2)) of it, computed here by numpy.
  metadata.gguf  every metadata value type (all integer widths, f32/f64, bool, UTF-8 strings, arrays
                 of each, nested arrays), general.alignment = 64, and three tensors; values listed in
                 tests/test_gguf.cc.

Usage: python3 scripts/make_gguf_testdata.py [OUT_DIR]   (default tests/data/gguf)
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]


def test_matrix(rng, rows=24, cols=64):
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[1] = rng.standard_t(1.5, cols).astype(np.float32)  # heavy-tailed
    x[2, :] *= 1e-4                                        # tiny scale
    x[3, 5] = 300.0                                        # outlier within a block
    x[4, :] = 0.0                                          # all zero
    x[5, :] = 2.5                                          # constant (d = 0 for min/max types)
    x[6, :] = -1.0                                         # constant negative
    x[7, ::2] = 1e3
    x[7, 1::2] = -1e3                                      # large alternating
    x[8] = np.linspace(-1, 1, cols, dtype=np.float32)
    return x


def permute_converter(w, n_head):
    # convert_hf_to_gguf.py LlamaModel.permute (n_head already the KV head count for k_proj)
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def write_dequant(path):
    rng = np.random.default_rng(20261128)
    w = gguf.GGUFWriter(path, "test")
    for name in TYPES:
        qt = getattr(Q, name)
        x = test_matrix(rng)
        if name == "F32":
            raw = x
            ref = x
            w.add_tensor(name, raw)
        elif name == "F16":
            raw = x.astype(np.float16)
            ref = raw.astype(np.float32)
            w.add_tensor(name, raw)
        else:
            raw = gguf.quants.quantize(x, qt)
            ref = gguf.quants.dequantize(raw, qt).astype(np.float32)
            w.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qt)
        w.add_tensor(name + ".ref", np.ascontiguousarray(ref.reshape(x.shape)))
    n_head, d_head, d_in = 3, 8, 5
    src = rng.standard_normal((n_head * d_head, d_in)).astype(np.float32)
    w.add_uint32("perm.n_head", n_head)
    w.add_tensor("perm.src", src)
    w.add_tensor("perm.dst", np.ascontiguousarray(permute_converter(src, n_head)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_metadata(path):
    w = gguf.GGUFWriter(path, "test")
    w.add_custom_alignment(64)
    kv = w.add_key_value
    kv("t.u8", 200, V.UINT8)
    kv("t.i8", -100, V.INT8)
    kv("t.u16", 60000, V.UINT16)
    kv("t.i16", -30000, V.INT16)
    kv("t.u32", 4000000000, V.UINT32)
    kv("t.i32", -2000000000, V.INT32)
    kv("t.u64", 18000000000000000000, V.UINT64)
    kv("t.i64", -9000000000000000000, V.INT64)
    kv("t.f32", 0.1, V.FLOAT32)
    kv("t.f64", 0.1, V.FLOAT64)
    kv("t.bool", True, V.BOOL)
    kv("t.str", "naïve 🦙 \"q\"\n", V.STRING)
    kv("t.empty_str", "", V.STRING)
    kv("t.arr_u8", [0, 255, 7], V.ARRAY, sub_type=V.UINT8)
    kv("t.arr_i32", [-1, 2, 2147483647], V.ARRAY, sub_type=V.INT32)
    kv("t.arr_u64", [1, 18000000000000000000], V.ARRAY, sub_type=V.UINT64)
    kv("t.arr_f32", [0.5, -2.25, 1e-30], V.ARRAY, sub_type=V.FLOAT32)
    kv("t.arr_f64", [0.1, -0.2], V.ARRAY, sub_type=V.FLOAT64)
    kv("t.arr_bool", [True, False], V.ARRAY, sub_type=V.BOOL)
    kv("t.arr_str", ["a", "", "Ġthe", "▁x"], V.ARRAY, sub_type=V.STRING)
    kv("t.nested", [[1, 2], [3], [4, 5, 6]], V.ARRAY)
    kv("t.nested_str", [["x", "y"], ["z"]], V.ARRAY)
    w.add_tensor("a", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.add_tensor("b", np.array([1.5, -2.0, 0.25], dtype=np.float16))
    w.add_tensor("c.three_d", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gguf")
    os.makedirs(out, exist_ok=True)
    write_dequant(os.path.join(out, "dequant.gguf"))
    write_metadata(os.path.join(out, "metadata.gguf"))
    for f in ("dequant.gguf", "metadata.gguf"):
        print(f, os.path.getsize(os.path.join(out, f)), "bytes")


if __name__ == "__main__":
    main()
