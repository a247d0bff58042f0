// The float64 reference of one GPU decode step for one query head (check64.h).
#include "check64.h"

#include <algorithm>
#include <vector>

#include "ghostkv/half.h"

namespace ghostkv::cuda {

HeadCheck check_head(const float* q, const float* k, const float* v, int64_t n, int n_head_kv, int d, int g, double scale,
                     const float* out, const Certificate& ce, double delta, const uint8_t* kept, const double* bound) {
  HeadCheck r;
  const int64_t row = int64_t(n_head_kv) * d;
  auto bf = [](float x) { return double(bf16_to_f32(f32_to_bf16(x))); };
  std::vector<double> s(static_cast<size_t>(n)), of(static_cast<size_t>(d), 0.0), ok(static_cast<size_t>(d), 0.0);
  double mx = -INFINITY;
  for (int64_t t = 0; t < n; ++t) {
    double a = 0;
    for (int j = 0; j < d; ++j) a += double(q[j]) * bf(k[t * row + int64_t(g) * d + j]);
    s[size_t(t)] = a * scale;
    mx = std::max(mx, s[size_t(t)]);
  }
  const bool detail = kept && bound;
  double z = 0, zk = 0, lost = 0;
  for (int64_t t = 0; t < n; ++t) {
    const double w = std::exp(s[size_t(t)] - mx);
    const bool in = detail && kept[t];
    z += w;
    if (in) zk += w;
    else lost += w;
    for (int j = 0; j < d; ++j) {
      const double x = w * bf(v[t * row + int64_t(g) * d + j]);
      of[size_t(j)] += x;
      if (in) ok[size_t(j)] += x;
    }
    if (detail && !(bound[t] >= s[size_t(t)])) ++r.violations;  // a NaN bound counts too
  }
  double e2 = 0, x2 = 0, ke2 = 0, ne2 = 0, k2 = 0;
  for (int j = 0; j < d; ++j) {
    const double oe = of[size_t(j)] / z, og = out[j];
    e2 += (og - oe) * (og - oe);
    x2 += oe * oe;
    if (detail) {
      const double okj = zk > 0 ? ok[size_t(j)] / zk : 0.0;
      ke2 += (oe - okj) * (oe - okj);
      ne2 += (og - okj) * (og - okj);
      k2 += okj * okj;
    }
  }
  r.out_err = std::sqrt(e2), r.exact_norm = std::sqrt(x2);
  auto fail = [&](const char* what) {
    if (r.cert_ok) r.failed = what;
    r.cert_ok = false;
  };
  if (ce.flags != 0u) fail("flagged");
  if (delta > 0 && !(ce.mass_bound <= delta * (1 + 1e-9))) fail("mass_bound above delta");
  if (!(r.out_err <= ce.out_err_bound + 1e-4 * r.exact_norm)) fail("output error above out_err_bound");
  if (detail) {
    r.mass_lost = lost / z;
    r.kept_err = std::sqrt(ke2), r.num_err = std::sqrt(ne2);
    if (r.violations) fail("a bound below its exact score");
    if (!(r.mass_lost <= ce.mass_bound * (1 + 1e-9))) fail("mass lost above mass_bound");
    if (!(r.kept_err <= ce.out_err_bound * (1 + 1e-9) + 1e-300)) fail("eliminated output change above out_err_bound");
    if (!(r.num_err <= 1e-4 * std::sqrt(k2))) fail("output off attention over the attended tokens");
  }
  return r;
}

}  // namespace ghostkv::cuda
