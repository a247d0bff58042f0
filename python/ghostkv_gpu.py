"""GhostKV's GPU decode path from Python: one sequence's KV cache on the GPU with its witnesses, and a decode step.

    import numpy as np, ghostkv_gpu
    cache = ghostkv_gpu.GhostCache(k, v, bits="8")     # k, v: [n, n_head_kv, d] float32 (host arrays)
    out, cert = cache.decode(q, scale)                   # q: [n_head_q, d]; out: [n_head_q, d]
    out_dense, _ = cache.decode(q, scale, dense=True)    # every token attended
    cache = ghostkv_gpu.GhostCache(k, v, capacity=8192)  # room to grow: then, per decode step,
    cache.append(k_new, v_new)                           # k_new, v_new: [m, n_head_kv, d]
    kept, bound = cache.last_step()                      # after a ghost decode: what it attended, its bounds
    cache.refit()                                        # the basis refitted on every token held

cert is a dict of arrays over the query heads: mass_bound (≥ the attention mass of the eliminated tokens),
out_err_bound (≥ ||out − exact attention||), n_attended, flags (non-zero: nothing certified for that head) and the
rest of the certificate (m_E, z_low, budget, m_l, theta, nu_e); kernels/decode.h (Certificate) defines them. Each call is synchronous.
Bad shapes, options or non-finite keys and values raise ValueError naming them; CUDA failures (no GPU) RuntimeError.

The shared library libghostkv_gpu.so comes from a CUDA build (GHOSTKV_CUDA, where nvcc exists); this module finds it
beside itself (the build's python/ folder) or at $GHOSTKV_GPU_LIB. It needs an sm_90 GPU (H100 / H200) to run.
"""
import ctypes
import os

import numpy as np

__all__ = ["GhostCache", "CERT_FIELDS", "library_path"]

CERT_FIELDS = ("mass_bound", "out_err_bound", "m_E", "z_low", "budget", "m_l", "theta", "nu_e", "n_attended", "flags")
_ERR = 2048
_lib = None


def library_path():
    """Where the shared library is looked for: $GHOSTKV_GPU_LIB, else libghostkv_gpu.so beside this file."""
    return os.environ.get("GHOSTKV_GPU_LIB") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "libghostkv_gpu.so")


def _load():
    global _lib
    if _lib is None:
        path = library_path()
        if not os.path.exists(path):
            raise RuntimeError(f"ghostkv_gpu: no shared library at {path} (a CUDA build writes it; or set GHOSTKV_GPU_LIB)")
        lib = ctypes.CDLL(path)
        f32p, f64p = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_double)
        lib.gkv_cache_new.argtypes = [f32p, f32p, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                      ctypes.c_int, ctypes.c_double, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                      ctypes.c_int]
        lib.gkv_cache_new.restype = ctypes.c_int
        lib.gkv_cache_new_capacity.argtypes = [f32p, f32p, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                               ctypes.c_int, ctypes.c_int, ctypes.c_double, ctypes.c_int64,
                                               ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int]
        lib.gkv_cache_new_capacity.restype = ctypes.c_int
        lib.gkv_cache_new_ex.argtypes = [f32p, f32p, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                         ctypes.c_int, ctypes.c_int, ctypes.c_double, ctypes.c_int64, ctypes.c_int,
                                         ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int]
        lib.gkv_cache_new_ex.restype = ctypes.c_int
        lib.gkv_cache_append.argtypes = [ctypes.c_void_p, f32p, f32p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_int]
        lib.gkv_cache_append.restype = ctypes.c_int
        lib.gkv_cache_len.argtypes = [ctypes.c_void_p]
        lib.gkv_cache_len.restype = ctypes.c_int64
        lib.gkv_cache_decode.argtypes = [ctypes.c_void_p, f32p, ctypes.c_int, ctypes.c_double, ctypes.c_int, f32p, f64p,
                                         ctypes.c_char_p, ctypes.c_int]
        lib.gkv_cache_decode.restype = ctypes.c_int
        lib.gkv_cache_last_step.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.POINTER(ctypes.c_uint8),
                                            f64p, ctypes.c_char_p, ctypes.c_int]
        lib.gkv_cache_last_step.restype = ctypes.c_int
        lib.gkv_cache_refit.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.gkv_cache_refit.restype = ctypes.c_int
        lib.gkv_cache_free.argtypes = [ctypes.c_void_p]
        lib.gkv_cache_free.restype = None
        _lib = lib
    return _lib


def _f32(a, name, ndim):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.ndim != ndim:
        raise ValueError(f"ghostkv_gpu: {name} must have {ndim} dimensions, got shape {a.shape}")
    return a


class GhostCache:
    """One sequence's KV cache on the GPU: bf16 K and V in pages of 64 tokens, and per KV head a PCA basis and the
    quantised witnesses (bits "8", "4" or "mixed"), or bits "lowrank": the rank-16 sketch of the rotated keys with
    residual norms (36 bytes per token and KV head). n_sink and n_recent tokens are always attended; delta is the
    mass policy's δ (the attention mass a step may give up, certified). capacity: the tokens it has room for, which
    append fills (None: the n it is built with). anchors: page anchors (a box of each page's codes, or sketches), so
    that whole pages can be eliminated before their witnesses are read."""

    def __init__(self, k, v, bits="8", n_sink=4, n_recent=64, delta=1e-3, capacity=None, anchors=False):
        k, v = _f32(k, "k", 3), _f32(v, "v", 3)
        if k.shape != v.shape:
            raise ValueError(f"ghostkv_gpu: k and v must have the same shape [n, n_head_kv, d], got {k.shape} and {v.shape}")
        lib = _load()
        self._h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERR)
        n, hkv, d = k.shape
        cap = 0 if capacity is None else int(capacity)
        rc = lib.gkv_cache_new_ex(k.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                  v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n, hkv, d, str(bits).encode(),
                                  int(n_sink), int(n_recent), float(delta), cap, int(bool(anchors)), ctypes.byref(self._h),
                                  err, _ERR)
        if rc != 0:
            self._h = None
            raise (ValueError if rc == -2 else RuntimeError)(err.value.decode(errors="replace"))
        self.n, self.n_head_kv, self.d, self.bits, self.anchors = n, hkv, d, str(bits), bool(anchors)
        self.capacity = cap if cap else n
        self._last_hq = 0  # the query heads of the last decode (0: none yet)

    def append(self, k, v):
        """Appends the tokens of k, v [m, n_head_kv, d] (float32 host arrays) after the n held: their rows, and the
        records of every page they touch rebuilt (GhostCache::append, kernels/cache.h). Needs n + m <= capacity."""
        if self._h is None:
            raise RuntimeError("ghostkv_gpu: the cache was closed")
        k, v = _f32(k, "k", 3), _f32(v, "v", 3)
        if k.shape != v.shape or k.shape[1:] != (self.n_head_kv, self.d):
            raise ValueError(f"ghostkv_gpu: k and v must both be [m, {self.n_head_kv}, {self.d}], got {k.shape} and {v.shape}")
        err = ctypes.create_string_buffer(_ERR)
        rc = _load().gkv_cache_append(self._h, k.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                      v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), k.shape[0], err, _ERR)
        if rc != 0:
            raise (ValueError if rc == -2 else RuntimeError)(err.value.decode(errors="replace"))
        self.n = int(_load().gkv_cache_len(self._h))

    def decode(self, q, scale, dense=False):
        """One step for q [n_head_q, d]: (out [n_head_q, d] float32, certificate dict of arrays [n_head_q])."""
        if self._h is None:
            raise RuntimeError("ghostkv_gpu: the cache was closed")
        q = _f32(q, "q", 2)
        if q.shape[1] != self.d:
            raise ValueError(f"ghostkv_gpu: q must be [n_head_q, {self.d}], got {q.shape}")
        hq = q.shape[0]
        out = np.empty((hq, self.d), dtype=np.float32)
        cert = np.empty((hq, len(CERT_FIELDS)), dtype=np.float64)
        err = ctypes.create_string_buffer(_ERR)
        rc = _load().gkv_cache_decode(self._h, q.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), hq, float(scale), int(bool(dense)),
                                      out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                      cert.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), err, _ERR)
        if rc != 0:
            raise (ValueError if rc == -2 else RuntimeError)(err.value.decode(errors="replace"))
        self._last_hq = hq
        c = {name: cert[:, i].copy() for i, name in enumerate(CERT_FIELDS)}
        c["n_attended"] = c["n_attended"].astype(np.int64)
        c["flags"] = c["flags"].astype(np.uint32)
        return out, c

    def refit(self):
        """Refits each KV head's basis on every token held and rebuilds every page's records (GhostCache::refit,
        kernels/cache.h): the cache is then the one built from all its tokens at once. For a cache grown far past the
        tokens its basis was fitted on."""
        if self._h is None:
            raise RuntimeError("ghostkv_gpu: the cache was closed")
        err = ctypes.create_string_buffer(_ERR)
        rc = _load().gkv_cache_refit(self._h, err, _ERR)
        if rc != 0:
            raise (ValueError if rc == -2 else RuntimeError)(err.value.decode(errors="replace"))

    def last_step(self):
        """What the last decode attended and the bounds it decided by (GhostCache::last_step, kernels/cache.h):
        (kept [n_head_kv, n] bool, True where the token was attended: the hot tokens and the survivors; bound
        [n_head_q, n] float64, an upper bound on each head's score scale·q·k, inf for the hot tokens). Only right after
        a ghost decode: ValueError after a dense one, after an append or a refit, or before any decode."""
        if self._h is None:
            raise RuntimeError("ghostkv_gpu: the cache was closed")
        hq = self._last_hq if self._last_hq else 1
        kept = np.zeros((self.n_head_kv, self.n), dtype=np.uint8)
        bound = np.empty((hq, self.n), dtype=np.float64)
        err = ctypes.create_string_buffer(_ERR)
        rc = _load().gkv_cache_last_step(self._h, self.n, hq, kept.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                         bound.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), err, _ERR)
        if rc != 0:
            raise (ValueError if rc == -2 else RuntimeError)(err.value.decode(errors="replace"))
        return kept.astype(bool), bound

    def close(self):
        """Frees the device memory (also done when the object is collected)."""
        if getattr(self, "_h", None):
            _load().gkv_cache_free(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
