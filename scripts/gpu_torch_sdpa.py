#!/usr/bin/env python3
"""External baseline: torch scaled_dot_product_attention (enable_gqa) for one decode step.

Per case "BxN": q [B, Hq, 1, d], k/v [B, Hkv, N, d] in bf16 on the GPU, fresh random values.
Checked against float64 attention on the same bf16 inputs (batch entry 0, all heads), then timed
with CUDA events after warm-up, L2 flushed (a 256 MB write read back; --flush write: the write only)
before every run, median of --reps.
Prints and appends CSV rows: device,commit,case,batch,n_kv,n_head_q,n_head_kv,torch_ms,rel_err,gbps.
"""
import argparse
import math
import os
import statistics

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="1x131072,32x32768")
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--flush", choices=("write", "clean"), default="clean",
                    help="clean (default): read the 256 MB flush buffer back after writing it (no dirty line "
                         "left in L2 to write back inside the timed region); write: the write only")
    ap.add_argument("--csv", default="")
    ap.add_argument("--device-name", default="")
    ap.add_argument("--commit", default="?")
    a = ap.parse_args()
    dev = torch.device("cuda")
    name = a.device_name or torch.cuda.get_device_name(0)
    flush = torch.empty(256 << 20, dtype=torch.uint8, device=dev)
    rows = []
    for case in a.cases.split(","):
        b, n = (int(x) for x in case.split("x"))
        g = torch.Generator(device=dev).manual_seed(1234 + b + n)
        q = torch.randn(b, a.hq, 1, a.d, device=dev, generator=g).to(torch.bfloat16)
        k = torch.randn(b, a.hkv, n, a.d, device=dev, generator=g).to(torch.bfloat16)
        v = torch.randn(b, a.hkv, n, a.d, device=dev, generator=g).to(torch.bfloat16)
        run = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)  # noqa: E731
        out = run()
        torch.cuda.synchronize()
        # float64 reference, batch entry 0
        grp = a.hq // a.hkv
        q0 = q[0, :, 0].double()
        k0 = k[0].double().repeat_interleave(grp, dim=0)
        v0 = v[0].double().repeat_interleave(grp, dim=0)
        s = torch.einsum("hd,hnd->hn", q0, k0) / math.sqrt(a.d)
        ref = torch.einsum("hn,hnd->hd", torch.softmax(s, dim=-1), v0)
        err = ((out[0, :, 0].double() - ref).norm() / ref.norm()).item()
        times = []
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for i in range(a.reps + 3):
            flush.fill_(i & 0xFF)
            if a.flush == "clean":
                flush.max()  # reads every line back: the written lines leave the L2 before the timed region
            e0.record()
            run()
            e1.record()
            e1.synchronize()
            if i >= 3:
                times.append(e0.elapsed_time(e1))
        ms = statistics.median(times)
        bytes_kv = 2 * b * a.hkv * n * a.d * 2
        rows.append((name, a.commit, case, b, n, a.hq, a.hkv, ms, err, bytes_kv / (ms * 1e-3) / 1e9))
        print(f"torch sdpa {case}: {ms:.4f} ms, rel err {err:.2e}, {rows[-1][-1]:.0f} GB/s (K+V bytes)")
        ok = math.isfinite(err) and err <= 1e-2
        if not ok:
            print(f"torch sdpa {case}: CHECK FAILED (rel err {err})")
        del q, k, v, out
        torch.cuda.empty_cache()
    if a.csv:
        new = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
        with open(a.csv, "a") as f:
            if new:
                f.write("device,commit,case,batch,n_kv,n_head_q,n_head_kv,torch_ms,rel_err,gbps\n")
            for r in rows:
                f.write(",".join(str(x) if not isinstance(x, float) else f"{x:.6g}" for x in r) + "\n")


if __name__ == "__main__":
    main()
