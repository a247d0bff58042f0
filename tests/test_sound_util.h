#pragma once
// Shared helpers of the soundness acceptance tests (tests/test_sound_*.cc):
//   - exact-enough arithmetic for the truth: compensated sums of error-free products (TwoSum +
//     FMA TwoProduct), so that a "truth" carries error ≈ 2^-53·|truth| + n²·2^-106·Σ|terms|, far
//     below any slack the library adds (the library's own slack is ≥ 2^-40 relative);
//   - seeded input generators (Gaussian, heavy-tailed, outlier channels, exact ties, low rank,
//     huge norms, integer grids);
//   - a suite-wide counter of the (query, token) pairs whose bound / decision was checked.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ghostkv/half.h"
#include "ghostkv/inputs.h"
#include "ghostkv/tensor.h"

namespace sound {

// (query, token) pairs whose soundness was checked, over every Sound* test that ran.
inline std::atomic<int64_t> g_pairs{0};

// ---------------- compensated arithmetic ----------------

inline void two_sum(double a, double b, double& s, double& e) {
  s = a + b;
  const double z = s - a;
  e = (a - (s - z)) + (b - z);
}

// Σ of terms, each added error-free into (hi, lo) (Ogita–Rump–Oishi Sum2 with TwoProduct).
struct Acc {
  double hi = 0, lo = 0;
  void add(double x) {
    double e;
    two_sum(hi, x, hi, e);
    lo += e;
  }
  void add_prod(double a, double b) {
    const double p = a * b;
    const double e = std::fma(a, b, -p);
    add(p);
    lo += e;
  }
  double value() const { return hi + lo; }
  // sign of hi + lo without rounding it away: > 0, 0, < 0
  int sign() const {
    const double v = hi + lo;
    if (v != 0) return v > 0 ? 1 : -1;
    return hi > 0 ? 1 : hi < 0 ? -1 : (lo > 0 ? 1 : lo < 0 ? -1 : 0);
  }
};

// Exact centred score q·(k − μ) for q double, k and μ float32 (k − μ split error-free).
inline Acc centred_score(const double* q, const float* k, const float* mu, int64_t d) {
  Acc a;
  for (int64_t j = 0; j < d; ++j) {
    double xh, xl;
    two_sum(double(k[j]), -double(mu[j]), xh, xl);
    a.add_prod(q[j], xh);
    a.add_prod(q[j], xl);
  }
  return a;
}

// ub − q·(k − μ) as a compensated sum; its sign() decides soundness with no tolerance.
inline Acc bound_minus_truth(double ub, const double* q, const float* k, const float* mu, int64_t d) {
  Acc a;
  a.add(ub);
  for (int64_t j = 0; j < d; ++j) {
    double xh, xl;
    two_sum(double(k[j]), -double(mu[j]), xh, xl);
    a.add_prod(-q[j], xh);
    a.add_prod(-q[j], xl);
  }
  return a;
}

// σ·(q_raw·k), q_raw and k float32: products exact in double, sum compensated, then one product.
inline double true_score(const float* q_raw, const float* k, int64_t d, double scale) {
  Acc a;
  for (int64_t j = 0; j < d; ++j) a.add(double(q_raw[j]) * double(k[j]));
  Acc s;
  s.add_prod(scale, a.hi);
  s.add_prod(scale, a.lo);
  return s.value();
}

inline double norm2(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}

// ---------------- generators ----------------

enum class Gen { gauss, heavy, outlier, ties, lowrank, huge, grid, zeros };
inline const char* gen_name(Gen k) {
  switch (k) {
    case Gen::gauss: return "gauss";
    case Gen::heavy: return "heavy";
    case Gen::outlier: return "outlier";
    case Gen::ties: return "ties";
    case Gen::lowrank: return "lowrank";
    case Gen::huge: return "huge";
    case Gen::grid: return "grid";
    case Gen::zeros: return "zeros";
  }
  return "?";
}
inline constexpr Gen kAllGens[] = {Gen::gauss, Gen::heavy, Gen::outlier, Gen::ties,
                                     Gen::lowrank, Gen::huge, Gen::grid, Gen::zeros};

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed * 0x9E3779B97F4A7C15ull + 0x1234567ull) {}
  double normal() { return std::normal_distribution<double>(0.0, 1.0)(g); }
  double uniform(double a = 0, double b = 1) { return std::uniform_real_distribution<double>(a, b)(g); }
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(g); }  // [lo, hi]
  // Student-t with 2 degrees of freedom: infinite variance, finite mean
  double heavy() {
    const double c = -2.0 * std::log(std::max(uniform(), 1e-300));  // χ²₂
    return normal() / std::sqrt(c / 2.0);
  }
  template <class T> const T& pick(const std::vector<T>& v) { return v[size_t(integer(0, int64_t(v.size()) - 1))]; }
};

// n rows of d floats (row t at out + t*stride), drawn from `kind`.
inline void gen_rows(Gen kind, Rng& rng, float* out, int64_t n, int64_t d, int64_t stride) {
  std::vector<std::vector<float>> pool;
  std::vector<std::vector<double>> basis;
  if (kind == Gen::ties) {
    const int64_t n_pool = rng.integer(1, 3);
    for (int64_t p = 0; p < n_pool; ++p) {
      std::vector<float> r(d);
      for (auto& x : r) x = float(rng.normal());
      pool.push_back(r);
    }
  }
  if (kind == Gen::lowrank) {
    const int64_t rk = std::min<int64_t>(d, 4);
    for (int64_t i = 0; i < rk; ++i) {
      std::vector<double> b(d);
      for (auto& x : b) x = rng.normal() * std::pow(0.5, double(i));
      basis.push_back(b);
    }
  }
  std::vector<int64_t> outl;
  if (kind == Gen::outlier) {
    outl = {0, d / 2, d - 1};
  }
  for (int64_t t = 0; t < n; ++t) {
    float* r = out + t * stride;
    switch (kind) {
      case Gen::gauss:
        for (int64_t j = 0; j < d; ++j) r[j] = float(rng.normal());
        break;
      case Gen::heavy:
        for (int64_t j = 0; j < d; ++j) r[j] = float(rng.heavy());
        break;
      case Gen::outlier:
        for (int64_t j = 0; j < d; ++j) r[j] = float(rng.normal());
        for (int64_t j : outl) r[j] = float(40.0 * (1 + 0.02 * rng.normal()));
        break;
      case Gen::ties: {
        const auto& p = rng.pick(pool);
        for (int64_t j = 0; j < d; ++j) r[j] = p[j];
        break;
      }
      case Gen::lowrank: {
        std::vector<double> x(d, 0.0);
        for (const auto& b : basis) {
          const double c = rng.normal();
          for (int64_t j = 0; j < d; ++j) x[j] += c * b[j];
        }
        for (int64_t j = 0; j < d; ++j) r[j] = float(x[j] + 1e-3 * rng.normal());
        break;
      }
      case Gen::huge: {
        const double s = std::pow(10.0, rng.uniform(3, 6));
        for (int64_t j = 0; j < d; ++j) r[j] = float(s * rng.normal());
        break;
      }
      case Gen::grid:
        for (int64_t j = 0; j < d; ++j) r[j] = float(rng.integer(-3, 3));
        break;
      case Gen::zeros:
        for (int64_t j = 0; j < d; ++j) r[j] = 0.0f;
        break;
    }
  }
}

// Queries that fit keys of a given distribution: finite scores (σ·|q|·|k| well below 1e30).
inline void gen_queries(Gen key_kind, Rng& rng, const float* keys, int64_t n_keys, int64_t key_stride, float* out,
                        int64_t n, int64_t d, int64_t stride) {
  for (int64_t i = 0; i < n; ++i) {
    float* r = out + i * stride;
    const int64_t mode = rng.integer(0, 3);
    if (mode == 0 && n_keys > 0) {
      // aligned with a key (plus noise): a large score on that token
      const float* k = keys + rng.integer(0, n_keys - 1) * key_stride;
      double kn = 0;
      for (int64_t j = 0; j < d; ++j) kn += double(k[j]) * k[j];
      kn = std::sqrt(kn) + 1e-30;
      const double a = rng.uniform(1, 6) / kn * std::sqrt(double(d));
      for (int64_t j = 0; j < d; ++j) r[j] = float(a * k[j] + 0.1 * rng.normal());
    } else if (mode == 1) {
      for (int64_t j = 0; j < d; ++j) r[j] = float(rng.heavy());
    } else {
      const double s = rng.uniform(0.2, 3.0);
      for (int64_t j = 0; j < d; ++j) r[j] = float(s * rng.normal());
    }
    if (key_kind == Gen::huge)
      for (int64_t j = 0; j < d; ++j) r[j] = float(double(r[j]) * 1e-5);
  }
}

// Record of failures: count them, keep the first few descriptions.
struct Fails {
  int64_t n = 0;
  std::string first;
  void add(const std::string& s) {
    if (n < 3) first += s + "\n";
    ++n;
  }
};

// Runs fn(case_index, fails) for every case on all OpenMP threads; returns the summed pair counts.
// fn must not use gtest assertions (not thread-safe): it reports into its own Fails.
template <class Fn>
int64_t parallel_cases(int64_t n_cases, Fails& f, Fn fn) {
  int64_t pairs = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : pairs)
  for (int64_t c = 0; c < n_cases; ++c) {
    Fails local;
    pairs += fn(c, local);
    if (local.n) {
#pragma omp critical(sound_fails)
      {
        if (f.n < 3) f.first += local.first;
        f.n += local.n;
      }
    }
  }
  return pairs;
}

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  os.precision(17);
  (os << ... << args);
  return os.str();
}

}  // namespace sound
