"""The Python module ghostkv_gpu (python/ghostkv_gpu.py over libghostkv_gpu.so) on the host: its refusals, each naming
the values, and without a GPU the CUDA error; with a GPU, scripts/gpu_python_check.py on a small sequence.

  test_gpu_python.py BUILD/python
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import ROOT, Checks  # noqa: E402


def raises(f, exc, text):
    try:
        f()
    except exc as e:
        return text in str(e), str(e)
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {e}"
    return False, "no exception"


def main():
    lib_dir = sys.argv[1]
    sys.path.insert(0, lib_dir)
    import ghostkv_gpu
    c = Checks()
    rng = np.random.default_rng(1)
    k = rng.standard_normal((300, 2, 128)).astype(np.float32)
    v = rng.standard_normal((300, 2, 128)).astype(np.float32)
    for f, exc, text in [
        (lambda: ghostkv_gpu.GhostCache(k, v[:10]), ValueError, "same shape"),
        (lambda: ghostkv_gpu.GhostCache(k[0], v[0]), ValueError, "3 dimensions"),
        (lambda: ghostkv_gpu.GhostCache(k[:, :, :100], v[:, :, :100]), ValueError, "d 100"),
        (lambda: ghostkv_gpu.GhostCache(k, v, bits="3"), ValueError, "bits must be 8, 4, mixed or lowrank (got '3')"),
        (lambda: ghostkv_gpu.GhostCache(k, v, delta=0), ValueError, "delta in (0, 1)"),
        (lambda: ghostkv_gpu.GhostCache(k, v, capacity=299), ValueError, "capacity 299 must be 0 or in [n 300"),
    ]:
        ok, msg = raises(f, exc, text)
        c(ok, f"expected {exc.__name__} with '{text}', got {msg}")
    k2 = k.copy()
    k2[5, 1, 7] = np.inf
    ok, msg = raises(lambda: ghostkv_gpu.GhostCache(k2, v), ValueError, "key inf at token 5, KV head 1, component 7")
    c(ok, f"a non-finite key named: {msg}")
    old = os.environ.get("GHOSTKV_GPU_LIB")
    try:  # a missing library is named (the module loads it on first use)
        os.environ["GHOSTKV_GPU_LIB"] = "/nonexistent/libghostkv_gpu.so"
        ghostkv_gpu._lib = None
        ok, msg = raises(lambda: ghostkv_gpu.GhostCache(k, v), RuntimeError, "/nonexistent/libghostkv_gpu.so")
        c(ok, f"a missing library named: {msg}")
    finally:
        if old is None:
            os.environ.pop("GHOSTKV_GPU_LIB", None)
        else:
            os.environ["GHOSTKV_GPU_LIB"] = old
        ghostkv_gpu._lib = None
    try:
        cache = ghostkv_gpu.GhostCache(k, v)
    except RuntimeError as e:  # no GPU here: the CUDA call is named
        c("GhostCache: cudaGetDeviceCount" in str(e), f"without a GPU the CUDA call named: {e}")
        print("no GPU here: the decode is checked by scripts/gpu_python_check.py on one")
    else:
        ok, msg = raises(lambda: cache.decode(np.zeros((3, 128), np.float32), 0.1), ValueError, "multiple of n_head_kv 2")
        c(ok, f"a bad query head count: {msg}")
        ok, msg = raises(lambda: cache.append(k[:1], v[:1]), ValueError, "room for 0")
        c(ok and cache.n == 300, f"an append past the capacity: {msg}")
        ok, msg = raises(lambda: cache.append(k[:1, :1], v[:1, :1]), ValueError, "[m, 2, 128]")
        c(ok, f"an append of the wrong shape: {msg}")
        cache.close()
        grown = ghostkv_gpu.GhostCache(k[:100], v[:100], capacity=300)
        ok, msg = raises(grown.last_step, ValueError, "no decode has finished")
        c(ok, f"last_step before a decode: {msg}")
        q4 = rng.standard_normal((4, 128)).astype(np.float32)
        grown.decode(q4, 0.1)
        kept, bound = grown.last_step()
        c(kept.shape == (2, 100) and bound.shape == (4, 100) and kept[:, :4].all() and np.isinf(bound[:, :4]).all(),
          f"last_step after a ghost decode: {kept.shape} {bound.shape}")
        grown.append(k[100:], v[100:])
        c(grown.n == 300 and grown.capacity == 300, f"append to the capacity: n {grown.n}")
        ok, msg = raises(grown.last_step, ValueError, "changed since the last decode")
        c(ok, f"last_step after an append: {msg}")
        grown.refit()  # then the cache built from all 300 tokens at once: the same bounds
        grown.decode(q4, 0.1)
        kept_r, bound_r = grown.last_step()
        whole = ghostkv_gpu.GhostCache(k, v)
        whole.decode(q4, 0.1)
        kept_w, bound_w = whole.last_step()
        c(np.array_equal(kept_r, kept_w) and np.array_equal(bound_r, bound_w),
          "refit: the bounds and the tokens attended of a cache built at once")
        whole.close()
        grown.close()
        ok, msg = raises(grown.refit, RuntimeError, "closed")
        c(ok, f"refit of a closed cache: {msg}")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_python_check.py"), "--lib-dir", lib_dir,
                            "--n", "4096", "--far", "0.9", "--grow"], capture_output=True, text=True)
        print(r.stdout[-600:])
        c(r.returncode == 0 and "all checks passed" in r.stdout, "gpu_python_check.py --grow on a GPU")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_python_check.py"), "--lib-dir", lib_dir,
                            "--n", "4096", "--far", "0.9"], capture_output=True, text=True)
        print(r.stdout[-600:])
        c(r.returncode == 0 and "all checks passed" in r.stdout, "gpu_python_check.py on a GPU")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_python_check.py"), "--lib-dir", lib_dir,
                            "--n", "4096", "--far", "0.9", "--grow", "--anchors"], capture_output=True, text=True)
        print(r.stdout[-600:])
        c(r.returncode == 0 and "all checks passed" in r.stdout, "gpu_python_check.py --grow --anchors on a GPU")
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_python_check.py"), "--lib-dir", lib_dir,
                            "--n", "4096", "--far", "0.9", "--grow", "--anchors", "--bits", "lowrank"], capture_output=True,
                           text=True)
        print(r.stdout[-600:])
        c(r.returncode == 0 and "all checks passed" in r.stdout and "low-rank r16 witness" in r.stdout,
          "gpu_python_check.py --grow --anchors --bits lowrank on a GPU")
    return c.done("test_gpu_python")


if __name__ == "__main__":
    sys.exit(main())
