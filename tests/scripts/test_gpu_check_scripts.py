#!/usr/bin/env python3
"""The scripts that check the GPU path, on a machine without a GPU: scripts/gpu_python_check.py and
scripts/gpu_capture_grow.py run over fake_gpu/ghostkv_gpu.py (a numpy stand-in for the module, with sound bounds) and
pass; with each fault the stand-in can make (a bound below its score, a mass bound below the mass given up, a list
longer than n_attended says, an output off attention, a non-finite query not flagged) they fail; and
scripts/gpu_capture_table.py reads gpu_capture_grow.py's output. So a check that passes on the GPU is one that can fail.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import ROOT, Checks  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_gpu")


def run(script, args, fault=""):
    env = dict(os.environ, GHOSTKV_FAKE_FAULT=fault)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), *args, "--lib-dir", FAKE],
                       capture_output=True, text=True, env=env)
    return r.returncode, r.stdout + r.stderr


def capture(path, n=512, hkv=2, hq=4, d=64, nq=4):
    """A small capture directory: keys with far tokens (150-299) along minus the group's queries."""
    rng = np.random.default_rng(3)
    q = rng.standard_normal((nq, hq, d)).astype(np.float32)
    k = rng.standard_normal((n, hkv, d)).astype(np.float32)
    v = rng.standard_normal((n, hkv, d)).astype(np.float32)
    G = hq // hkv
    for g in range(hkv):
        u = q[:, g * G:(g + 1) * G].reshape(-1, d).mean(0)
        k[150:300, g] = -400 * u / np.linalg.norm(u) + 0.1 * k[150:300, g]
    os.makedirs(os.path.join(path, "layer_03"))
    json.dump({"format": "ghostkv-capture", "version": 1, "layers": [3], "n_kv": n, "n_head_q": hq, "n_head_kv": hkv,
               "d_head": d, "scale": d ** -0.5, "dtype": "float32"}, open(os.path.join(path, "manifest.json"), "w"))
    for name, a in (("q", q), ("k", k), ("v", v), ("positions", np.arange(n - nq, n, dtype=np.int64))):
        np.save(os.path.join(path, "layer_03", name + ".npy"), a)


def main():
    c = Checks()
    small = ["--n", "2048", "--hq", "8", "--hkv", "2"]
    for extra in ([], ["--grow"], ["--anchors"], ["--bits", "lowrank", "--anchors"]):
        rc, out = run("gpu_python_check.py", small + extra)
        c(rc == 0 and "gpu_python_check: all checks passed" in out, f"gpu_python_check.py {extra} over the stand-in: {out[-400:]}")
    for fault in ("bound", "mass", "list", "output", "flag"):
        rc, out = run("gpu_python_check.py", small, fault)
        c(rc == 1 and "FAILED" in out, f"gpu_python_check.py with the fault '{fault}': rc {rc} {out[-300:]}")
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, "ghostkv-ref-23m-synthetic")
        capture(cap)
        rc, out = run("gpu_capture_grow.py", [cap, "--every", "2"])
        c(rc == 0 and "gpu_capture_grow: all checks passed" in out and "layer 3: basis fitted on 128 of 512 tokens" in out
          and "after a refit" in out and "attended 100.00% grown" not in out, f"gpu_capture_grow.py over the stand-in: {out[-600:]}")
        rec = os.path.join(tmp, "rec.txt")
        with open(rec, "w") as f:  # as the device scripts record a run: its command line, then its output
            f.write(f"+ python3 scripts/gpu_capture_grow.py {cap} --lib-dir x 10:00:00\n{out}")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_capture_table.py"), rec], capture_output=True,
                           text=True)
        c(r.returncode == 0 and "| ref23m L3 | " in r.stdout and "int8, basis on the first quarter" in r.stdout,
          f"gpu_capture_table.py on gpu_capture_grow.py's output: {r.stdout} {r.stderr}")
        rc, out = run("gpu_capture_grow.py", [cap, "--every", "2", "--anchors"])
        with open(rec, "w") as f:
            f.write(f"+ python3 scripts/gpu_capture_grow.py {cap} --lib-dir x --anchors 10:00:00\n{out}")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_capture_table.py"), rec], capture_output=True,
                           text=True)
        c(rc == 0 and "int8 with page anchors, basis on the first quarter" in r.stdout,
          f"gpu_capture_grow.py --anchors and its table: {out[-300:]} {r.stdout}")
        rc, out = run("gpu_capture_grow.py", [cap, "--every", "2", "--bits", "lowrank", "--anchors"])
        with open(rec, "w") as f:
            f.write(f"+ python3 scripts/gpu_capture_grow.py {cap} --lib-dir x --bits lowrank --anchors 10:00:00\n{out}")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_capture_table.py"), rec], capture_output=True,
                           text=True)
        c(rc == 0 and "gpu_capture_grow: all checks passed" in out
          and "low-rank r16 with page anchors, basis on the first quarter" in r.stdout,
          f"gpu_capture_grow.py --bits lowrank --anchors and its table: {out[-300:]} {r.stdout} {r.stderr}")
        for fault in ("bound", "mass", "list"):
            rc, out = run("gpu_capture_grow.py", [cap, "--every", "2"], fault)
            c(rc == 1 and "FAILED" in out, f"gpu_capture_grow.py with the fault '{fault}': rc {rc} {out[-300:]}")
        rc, out = run("gpu_capture_grow.py", [cap, "--built", "600"])
        c(rc == 1 and "needs 1 <= built 600" in out, f"gpu_capture_grow.py --built past the first query: {out[-200:]}")
    return c.done("gpu_check_scripts")


if __name__ == "__main__":
    sys.exit(main())
