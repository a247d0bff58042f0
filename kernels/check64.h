#pragma once
// The float64 reference for one decode step of the GPU path, as GhostCache and the decode-loop hook hold it: attention
// of one query head over keys and values as the device holds them (bf16), and the checks of that head's output, its
// certificate and, where the step's detail is known (GhostCache::last_step), of every candidate's bound and of the
// attention mass the step gave up. Host code only (no CUDA call): tested in CI on constructed steps.
#include <cmath>
#include <cstdint>
#include <limits>

#include "decode.h"

namespace ghostkv::cuda {

struct HeadCheck {
  double out_err = 0;        // ||o − o_exact||, o_exact: float64 attention over every token
  double exact_norm = 0;     // ||o_exact||
  double mass_lost = std::numeric_limits<double>::quiet_NaN();  // Σ p_t over the tokens not attended (NaN: not known)
  double kept_err = std::numeric_limits<double>::quiet_NaN();   // ||o_exact − o_kept||: what elimination moved the output
  double num_err = std::numeric_limits<double>::quiet_NaN();    // ||o − o_kept||: the float32 arithmetic of attention
  int64_t violations = 0;    // tokens whose bound is below their exact score (every token with a finite bound)
  bool cert_ok = true;       // the checks below all hold
  const char* failed = "";   // the first check that failed, for messages
};

// q: one query head [d] (unscaled; scores scale·q·k in float64); k, v: [n, n_head_kv, d] float32, rounded to bf16 here as
// the device holds them; g: the head's KV head; out: the GPU's output for the head [d]; ce: its certificate; delta: the
// mass policy's δ (0: a dense step, no policy). Without the detail (kept and bound null) the checks are: not flagged,
// mass_bound ≤ δ(1 + 1e-9), and ||o − o_exact|| ≤ out_err_bound + 1e-4·||o_exact|| (the float32 arithmetic, which
// the certificate does not cover; as scripts/gpu_python_check.py). With kept (n flags: the tokens attended) and bound
// (n upper bounds on the head's scores, +inf where the score is not bounded but attended: the hot tokens), also:
// every bound ≥ its exact score (else a violation), mass_lost ≤ mass_bound·(1 + 1e-9), ||o_exact − o_kept|| ≤
// out_err_bound·(1 + 1e-9), and ||o − o_kept|| ≤ 1e-4·||o_kept||, o_kept: float64 attention over the kept tokens.
HeadCheck check_head(const float* q, const float* k, const float* v, int64_t n, int n_head_kv, int d, int g, double scale,
                     const float* out, const Certificate& ce, double delta, const uint8_t* kept = nullptr,
                     const double* bound = nullptr);

}  // namespace ghostkv::cuda
