#include <cmath>

#include "ghostkv/attention.h"

namespace ghostkv {

static inline void two_sum(double a, double b, double& s, double& e) {
  s = a + b;
  double z = s - a;
  e = (a - (s - z)) + (b - z);
}

double dot2(const float* a, const float* b, int64_t n) {
  // float×float products are exact in double (24+24 < 53 bits); only the sum needs compensation.
  double s = 0, c = 0;
  for (int64_t i = 0; i < n; ++i) {
    double p = double(a[i]) * double(b[i]), e;
    two_sum(s, p, s, e);
    c += e;
  }
  return s + c;
}

double exact_score(const float* q_raw, const float* k, int64_t d, double scale) { return scale * dot2(q_raw, k, d); }

namespace ref {

void attend(const double* scores, const float* v, int64_t stride, int64_t d, const int64_t* idx, int64_t n,
            AttnOut& res) {
  res.out.assign(d, 0.0);
  res.s_lo.assign(scores, scores + n);
  res.num_err_bound = 0;
  res.nu_max = 0;
  if (n == 0) return;
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, scores[i]);
  double z = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = std::exp(scores[i] - m);
    z += w;
    const float* vt = v + idx[i] * stride;
    double vn = 0;
    for (int64_t j = 0; j < d; ++j) {
      res.out[j] += w * double(vt[j]);
      vn += double(vt[j]) * vt[j];
    }
    res.nu_max = std::max(res.nu_max, std::sqrt(vn));
  }
  for (int64_t j = 0; j < d; ++j) res.out[j] /= z;
}

}  // namespace ref
}  // namespace ghostkv
