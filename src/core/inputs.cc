#include "ghostkv/inputs.h"

#include <cmath>

namespace ghostkv {

static void check_finite(const Tensor& t, const std::string& name) {
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (!std::isfinite(p[i])) {
      int64_t d = t.dim(-1);
      throw Error(str_cat(name, ": non-finite value ", p[i], " at flat index ", i, " (row ", i / d, ", column ", i % d,
                          "); inputs must be finite"));
    }
  }
}

void validate_inputs(AttnInputs& in) {
  auto need3 = [](const Tensor& t, const std::string& name, const char* what) {
    GKV_CHECK(t.ndim() == 3, name, ": expected a 3-d array ", what, ", got shape ", shape_str(t.shape()));
    GKV_CHECK(t.numel() > 0, name, ": empty array, shape ", shape_str(t.shape()));
  };
  need3(in.q, in.name_q, "[n_q, n_head_q, d_head]");
  need3(in.k, in.name_k, "[n_kv, n_head_kv, d_head]");
  need3(in.v, in.name_v, "[n_kv, n_head_kv, d_head]");
  for (auto* t : {&in.q, &in.k, &in.v}) {
    GKV_CHECK(t->dtype() == DType::f32 || t->dtype() == DType::f16 || t->dtype() == DType::bf16 || t->dtype() == DType::f64,
              (t == &in.q ? in.name_q : t == &in.k ? in.name_k : in.name_v), ": expected float32/float16/bfloat16, got ",
              dtype_name(t->dtype()));
    if (t->dtype() == DType::f64) {
      const double* p = t->data<double>();
      for (int64_t i = 0; i < t->numel(); ++i)
        GKV_CHECK(std::isfinite(p[i]) && std::fabs(p[i]) <= 3.4028234663852886e38,
                  (t == &in.q ? in.name_q : t == &in.k ? in.name_k : in.name_v), ": value ", p[i], " at flat index ", i,
                  std::isfinite(p[i]) ? " overflows float32" : " is not finite");
    }
    if (t->dtype() != DType::f32) *t = t->to_f32();
  }
  GKV_CHECK(in.k.shape() == in.v.shape(), in.name_k, " and ", in.name_v, ": shapes differ: ", shape_str(in.k.shape()),
            " vs ", shape_str(in.v.shape()));
  GKV_CHECK(in.q.dim(2) == in.k.dim(2), in.name_q, " and ", in.name_k, ": d_head differs: ", in.q.dim(2), " vs ",
            in.k.dim(2));
  GKV_CHECK(in.q.dim(1) % in.k.dim(1) == 0, in.name_q, ": n_head_q = ", in.q.dim(1),
            " is not a multiple of n_head_kv = ", in.k.dim(1), " (", in.name_k, ")");
  check_finite(in.q, in.name_q);
  check_finite(in.k, in.name_k);
  check_finite(in.v, in.name_v);
  if (in.scale == 0.0) in.scale = 1.0 / std::sqrt(double(in.d_head()));
  GKV_CHECK(std::isfinite(in.scale) && in.scale > 0, "scale: must be finite and > 0, got ", in.scale);
  if (in.positions.ndim() == 0) {
    in.positions = Tensor(DType::i64, {in.n_q()});
    for (int64_t i = 0; i < in.n_q(); ++i) in.positions.data<int64_t>()[i] = in.n_kv() - 1;
  } else {
    GKV_CHECK(in.positions.ndim() == 1 && in.positions.dim(0) == in.n_q(), in.name_positions,
              ": expected shape [n_q] = [", in.n_q(), "], got ", shape_str(in.positions.shape()));
    GKV_CHECK(in.positions.dtype() == DType::i32 || in.positions.dtype() == DType::i64, in.name_positions,
              ": expected int32 or int64, got ", dtype_name(in.positions.dtype()));
    in.positions = in.positions.to_i64();
    for (int64_t i = 0; i < in.n_q(); ++i) {
      int64_t p = in.pos(i);
      GKV_CHECK(p >= 0 && p < in.n_kv(), in.name_positions, ": position ", p, " of query ", i,
                " is outside [0, n_kv) = [0, ", in.n_kv(), ")");
    }
  }
  // Scores must stay finite in float32: σ·|q|·|k| < 1e30 for every pair.
  double qmax = 0, kmax = 0;
  auto maxnorm = [](const Tensor& t) {
    double m = 0;
    int64_t d = t.dim(-1), rows = t.numel() / d;
    const float* p = t.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += double(p[r * d + j]) * p[r * d + j];
      m = std::max(m, std::sqrt(s));
    }
    return m;
  };
  qmax = maxnorm(in.q);
  kmax = maxnorm(in.k);
  GKV_CHECK(in.scale * qmax * kmax < 1e30, "scores overflow float32: scale·max|q|·max|k| = ", in.scale * qmax * kmax,
            " (", in.name_q, " max norm ", qmax, ", ", in.name_k, " max norm ", kmax, ")");
}

}  // namespace ghostkv
