"""A numpy stand-in for the module ghostkv_gpu (python/ghostkv_gpu.py), so that the scripts which check the GPU path
(scripts/gpu_python_check.py, scripts/gpu_capture_grow.py) can be tested on a machine without a GPU: the same calls,
refusals and results, from exact float64 attention over the bf16 keys and values.

Its ghost step bounds each candidate's score by the score + 0.5, gives up the candidates whose bound lies more than 30
below the group's highest score for every head of the group (the GQA rule), and certifies the mass given up by
Σ e^(bound) over them / Σ e^(score) over the kept tokens and the output's change by 2·mass_bound·max||v||: sound, so a
correct check passes. GHOSTKV_FAKE_FAULT makes one thing wrong, for a check to catch: "bound" (a given-up token's bound
below its score), "mass" (mass_bound below the mass given up), "list" (n_attended one above the list's length),
"output" (the output moved by 1e-2 of its norm), "flag" (a non-finite query not flagged).
"""
import os

import numpy as np

__all__ = ["GhostCache", "CERT_FIELDS", "library_path"]

CERT_FIELDS = ("mass_bound", "out_err_bound", "m_E", "z_low", "budget", "m_l", "theta", "nu_e", "n_attended", "flags")


def library_path():
    return os.path.abspath(__file__)


def _bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


class GhostCache:
    def __init__(self, k, v, bits="8", n_sink=4, n_recent=64, delta=1e-3, capacity=None, anchors=False):
        k, v = np.asarray(k, np.float32), np.asarray(v, np.float32)
        if k.ndim != 3 or k.shape != v.shape:
            raise ValueError(f"ghostkv_gpu: k and v must have the same shape [n, n_head_kv, d], got {k.shape} and {v.shape}")
        if str(bits) not in ("8", "4", "mixed", "lowrank") or not (0 < delta < 1):
            raise ValueError(f"ghostkv_gpu: bits must be 8, 4, mixed or lowrank (got '{bits}') and delta in (0, 1)")
        self.n, self.n_head_kv, self.d = k.shape
        self.capacity = int(capacity) if capacity else self.n
        if self.capacity < self.n:
            raise ValueError(f"ghostkv_gpu: capacity {self.capacity} must be 0 or in [n {self.n}, 2^30]")
        self.bits, self.delta, self.n_sink, self.n_recent = str(bits), delta, n_sink, n_recent
        self._k, self._v = _bf16(k), _bf16(v)
        self._last = 0  # 0 none, 1 ghost, 2 dense, 3 changed
        self._h = True

    def append(self, k, v):
        k, v = np.asarray(k, np.float32), np.asarray(v, np.float32)
        if k.shape != v.shape or k.shape[1:] != (self.n_head_kv, self.d):
            raise ValueError(f"ghostkv_gpu: k and v must both be [m, {self.n_head_kv}, {self.d}], got {k.shape} and {v.shape}")
        if self.n + k.shape[0] > self.capacity:
            raise ValueError(f"ghostkv_gpu: {k.shape[0]} tokens asked (room for {self.capacity - self.n})")
        self._k = np.concatenate([self._k, _bf16(k)])
        self._v = np.concatenate([self._v, _bf16(v)])
        self.n = self._k.shape[0]
        self._last = 3 if self._last else 0

    def refit(self):
        self._last = 3 if self._last else 0

    def decode(self, q, scale, dense=False):
        q = np.asarray(q, np.float32)
        hq, d = q.shape
        G, n = hq // self.n_head_kv, self.n
        fault = os.environ.get("GHOSTKV_FAKE_FAULT", "")
        out = np.zeros((hq, d), np.float32)
        cert = {f: np.zeros(hq) for f in CERT_FIELDS}
        kept = np.ones((self.n_head_kv, n), bool)
        bound = np.full((hq, n), np.inf)
        hot = np.zeros(n, bool)
        hot[:self.n_sink] = True
        hot[max(0, n - self.n_recent):] = True
        for g in range(self.n_head_kv):
            qg = q[g * G:(g + 1) * G].astype(np.float64)
            with np.errstate(invalid="ignore"):
                s = scale * (self._k[:, g] @ qg.T)  # [n, G]
            finite = np.isfinite(qg).all(1)
            if not dense and finite.any():
                b = s + 0.5
                give_up = ~hot & (b[:, finite] < s[:, finite].max(0) - 30).all(1)
                kept[g] = ~give_up
                bound[g * G:(g + 1) * G, ~hot] = b[~hot].T
            for j in range(G):
                h = g * G + j
                if not finite[j] and fault != "flag":
                    out[h] = np.nan
                    cert["flags"][h], cert["mass_bound"][h], cert["out_err_bound"][h] = 1, 1.0, np.inf
                    continue
                sj = s[:, j]
                w = np.exp(sj - sj[kept[g]].max())
                kw = np.where(kept[g], w, 0.0)
                out[h] = (kw[:, None] * self._v[:, g]).sum(0) / kw.sum()
                if not dense:
                    mb = np.exp(bound[h, ~kept[g]] - sj[kept[g]].max()).sum() / kw.sum()
                    cert["mass_bound"][h] = mb
                    cert["out_err_bound"][h] = 2 * mb * np.linalg.norm(self._v[:, g], axis=1).max()
                cert["n_attended"][h] = kept[g].sum()
        if not dense and fault:
            g0 = 0
            gone = np.flatnonzero(~kept[g0])
            if fault == "bound" and gone.size:
                bound[0, gone[0]] = -1e9
            elif fault == "mass":
                cert["mass_bound"][0] = 0.0
            elif fault == "list":
                cert["n_attended"][0] += 1
            elif fault == "output":
                out[0] += np.float32(1e-2 * np.linalg.norm(out[0]))
        cert["n_attended"] = cert["n_attended"].astype(np.int64)
        cert["flags"] = cert["flags"].astype(np.uint32)
        self._last, self._kept, self._bound = (2, None, None) if dense else (1, kept, bound)
        return out, cert

    def last_step(self):
        if self._last != 1:
            raise ValueError("ghostkv cuda: GhostCache::last_step: " + {0: "no decode has finished on this cache",
                                                                          2: "the last decode was dense",
                                                                          3: "the cache changed since the last decode"}[self._last])
        return self._kept.copy(), self._bound.copy()

    def close(self):
        self._h = None
