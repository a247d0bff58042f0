// Synthetic attention inputs (see include/ghostkv/synth.h).
//
// Structured generator, per KV head g. RoPE planes j = 0..d/2-1 pair channels (j, j + d/2); plane j
// turns by t·θ_j at position t, θ_j = theta^(-2j/d) (j = 0 fastest). Planes are reserved as:
//   outlier planes  the outlier_channels lowest-frequency planes, one channel each (real LLM keys
//                   carry their massive near-constant channels at low frequency, where RoPE barely
//                   turns them, so they stay near-constant after RoPE too)
//   sink plane      the next lowest; only sink tokens have energy there
//   positional      the fast planes with θ_j·recency_window >= 1: every key carries the same
//                   constant c there; a query ∝ c scores σ·γ·|c|²·mean_j cos(Δ·θ_j), which peaks at
//                   distance Δ = 0 and dephases beyond the window (RoPE's long-term decay)
//   content         ceil(key_rank/2) planes chosen at random among the rest
//   needle          everything left: only needle tokens (and noise) have energy there
// A score under RoPE is σ·q_pre·R(t - pos)·k_pre, so a query that retrieves the key direction u of
// token t carries R(t - pos)·u before its own rotation R(pos): that is how sink and needle parts are
// built (exactly, whatever the frequency). Key-side magnitudes are fixed (kSinkKeyNorm, ...); the
// query-side coefficients are set so that each part's score margin equals its *_strength.
#include "ghostkv/synth.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <random>

namespace ghostkv {
namespace {

// Key-side magnitudes, in units of the content rms per channel (1).
// They are large against key_noise so that the query parts which read them (margin / key norm)
// stay small and pick up little of the noise (σ·|q_part|·key_noise), yet small against a typical
// key (||k|| ≈ 20 with the default outliers): sink and needle keys are not outliers by norm.
constexpr double kSinkKeyNorm = 12.0;       // ||sink part of a sink key||
constexpr double kNeedleKeyNorm = 8.0;      // ||needle part of a needle key||
constexpr double kPositionalKeyNorm = 5.0;  // ||c||, spread evenly over the positional planes
// Needles sit before the last n_q + kNeedleMinAge positions: candidates of every query, never hot
// under the default recent window of 64 (DESIGN §2).
constexpr int64_t kNeedleMinAge = 64;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum Stream : uint64_t { kLayout = 1, kHead = 2, kKeys = 3, kValues = 4, kQueries = 5, kGaussQ = 6, kGaussK = 7, kGaussV = 8 };

// One independent stream per (seed, purpose, index); Box–Muller in double so that the output does
// not depend on the standard library's std::normal_distribution.
class Rng {
 public:
  Rng(uint64_t seed, Stream s, uint64_t index) : gen_(splitmix64(splitmix64(seed ^ (uint64_t(s) << 56)) + index)) {}
  double uniform() { return (double(gen_() >> 11) + 0.5) * 0x1.0p-53; }  // in (0, 1)
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double r = std::sqrt(-2.0 * std::log(uniform())), a = 2.0 * std::numbers::pi * uniform();
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }
  int64_t below(int64_t n) { return int64_t(gen_() % uint64_t(n)); }  // modulo bias < n/2^64

 private:
  std::mt19937_64 gen_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// HF half-split RoPE: (x_j, x_{j+d/2}) turned by pos·θ_j. pos may be negative (relative rotation).
void rope_rotate(double* x, int64_t d, double pos, const std::vector<double>& inv_freq) {
  int64_t h = d / 2;
  for (int64_t j = 0; j < h; ++j) {
    double a = pos * inv_freq[size_t(j)], c = std::cos(a), s = std::sin(a);
    double x0 = x[j], x1 = x[j + h];
    x[j] = x0 * c - x1 * s;
    x[j + h] = x1 * c + x0 * s;
  }
}

// Everything fixed per KV head before any token is drawn.
struct HeadPlan {
  std::vector<std::vector<double>> basis;  // [key_rank][d] orthonormal, content planes only
  std::vector<double> lambda;              // [key_rank] content variances
  std::vector<double> outlier;             // [d] mean outlier offset o (zero off the outlier channels)
  std::vector<double> positional;          // [d] constant c (zero when recency_strength == 0)
  std::vector<double> sink_dir;            // [d] unit, in the sink plane
  std::vector<int64_t> needle_pos;         // sorted
  std::vector<std::vector<double>> needle_dir;  // [n][d] unit, in the needle planes
};

int64_t n_content_planes(const SynthSpec& s) { return (s.key_rank + 1) / 2; }

void check_finite_nonneg(double x, const char* name) {
  GKV_CHECK(std::isfinite(x) && x >= 0, "synth spec: ", name, " = ", x, " must be finite and >= 0");
}

}  // namespace

bool SynthLayout::is_diffuse(int64_t h) const {
  return std::binary_search(diffuse_heads.begin(), diffuse_heads.end(), h);
}

void validate_synth_spec(const SynthSpec& s) {
  GKV_CHECK(s.kind == "gaussian" || s.kind == "structured", "synth spec: kind = '", s.kind,
            "' is unknown; expected 'gaussian' or 'structured'");
  GKV_CHECK(s.n_kv > 0, "synth spec: n_kv = ", s.n_kv, " must be > 0");
  GKV_CHECK(s.n_q > 0, "synth spec: n_q = ", s.n_q, " must be > 0");
  GKV_CHECK(s.n_q <= s.n_kv, "synth spec: n_q = ", s.n_q, " must be <= n_kv = ", s.n_kv,
            " (queries sit at the last n_q positions)");
  GKV_CHECK(s.n_head_q > 0, "synth spec: n_head_q = ", s.n_head_q, " must be > 0");
  GKV_CHECK(s.n_head_kv > 0, "synth spec: n_head_kv = ", s.n_head_kv, " must be > 0");
  GKV_CHECK(s.n_head_q % s.n_head_kv == 0, "synth spec: n_head_q = ", s.n_head_q, " is not a multiple of n_head_kv = ",
            s.n_head_kv, " (GQA)");
  GKV_CHECK(s.d_head > 0 && s.d_head % 2 == 0, "synth spec: d_head = ", s.d_head, " must be positive and even (RoPE pairs)");
  if (s.kind == "gaussian") return;

  GKV_CHECK(s.key_rank >= 1 && s.key_rank <= s.d_head, "synth spec: key_rank = ", s.key_rank, " must be in [1, d_head = ",
            s.d_head, "]");
  GKV_CHECK(std::isfinite(s.key_decay) && s.key_decay > 0 && s.key_decay <= 1, "synth spec: key_decay = ", s.key_decay,
            " must be in (0, 1]");
  check_finite_nonneg(s.key_noise, "key_noise");
  check_finite_nonneg(s.content_corr_len, "content_corr_len");
  GKV_CHECK(s.outlier_channels >= 0, "synth spec: outlier_channels = ", s.outlier_channels, " must be >= 0");
  check_finite_nonneg(s.outlier_scale, "outlier_scale");
  check_finite_nonneg(s.outlier_jitter, "outlier_jitter");
  GKV_CHECK(std::isfinite(s.outlier_logit), "synth spec: outlier_logit = ", s.outlier_logit, " must be finite");
  check_finite_nonneg(s.background_strength, "background_strength");
  GKV_CHECK(std::isfinite(s.content_query_corr) && s.content_query_corr >= 0 && s.content_query_corr <= 1,
            "synth spec: content_query_corr = ", s.content_query_corr, " must be in [0, 1]");
  GKV_CHECK(s.n_sink >= 0 && s.n_sink <= s.n_kv - s.n_q, "synth spec: n_sink = ", s.n_sink, " must be in [0, n_kv - n_q = ",
            s.n_kv - s.n_q, "]");
  check_finite_nonneg(s.sink_strength, "sink_strength");
  check_finite_nonneg(s.recency_strength, "recency_strength");
  GKV_CHECK(s.recency_window >= 1, "synth spec: recency_window = ", s.recency_window, " must be >= 1");
  GKV_CHECK(s.n_needles >= 0, "synth spec: n_needles = ", s.n_needles, " must be >= 0");
  check_finite_nonneg(s.needle_strength, "needle_strength");
  GKV_CHECK(std::isfinite(s.needle_query_frac) && s.needle_query_frac >= 0 && s.needle_query_frac <= 1,
            "synth spec: needle_query_frac = ", s.needle_query_frac, " must be in [0, 1]");
  GKV_CHECK(std::isfinite(s.diffuse_head_frac) && s.diffuse_head_frac >= 0 && s.diffuse_head_frac <= 1,
            "synth spec: diffuse_head_frac = ", s.diffuse_head_frac, " must be in [0, 1]");
  check_finite_nonneg(s.diffuse_scale, "diffuse_scale");
  check_finite_nonneg(s.value_norm_spread, "value_norm_spread");
  check_finite_nonneg(s.sink_value_scale, "sink_value_scale");
  GKV_CHECK(std::isfinite(s.rope_theta) && s.rope_theta > 1, "synth spec: rope_theta = ", s.rope_theta, " must be > 1");

  int64_t planes = s.d_head / 2;
  int64_t need = s.outlier_channels + (s.n_sink > 0) + n_content_planes(s) + (s.n_needles > 0) + (s.recency_strength > 0);
  GKV_CHECK(need <= planes, "synth spec: d_head = ", s.d_head, " has ", planes, " RoPE planes but the structured generator needs ",
            need, ": outlier_channels (", s.outlier_channels, ") + sink (", int(s.n_sink > 0), ") + ceil(key_rank/2) (",
            n_content_planes(s), ") + needles (", int(s.n_needles > 0), ") + positional (", int(s.recency_strength > 0),
            "); lower key_rank or outlier_channels, or raise d_head");
}

namespace {

std::vector<double> make_inv_freq(const SynthSpec& s) {
  std::vector<double> f(size_t(s.d_head / 2));
  for (int64_t j = 0; j < s.d_head / 2; ++j) f[size_t(j)] = std::pow(s.rope_theta, -2.0 * double(j) / double(s.d_head));
  return f;
}

void normalize(std::vector<double>& x) {
  double n = 0;
  for (double v : x) n += v * v;
  n = std::sqrt(n);
  GKV_ASSERT(n > 0, "zero vector in synth");
  for (double& v : x) v /= n;
}

HeadPlan plan_head(const SynthSpec& s, int64_t g, const std::vector<double>& inv_freq) {
  Rng rng(s.seed, kHead, uint64_t(g));
  const int64_t d = s.d_head, P = d / 2, m = n_content_planes(s);
  HeadPlan hp;
  hp.outlier.assign(size_t(d), 0.0);
  hp.positional.assign(size_t(d), 0.0);
  hp.sink_dir.assign(size_t(d), 0.0);

  // Plane reservation (see the file comment). Planes are listed fastest (j = 0) to slowest.
  std::vector<int64_t> free_planes;
  int64_t low = P;  // planes [low, P) are taken from the slow end
  for (int64_t c = 0; c < s.outlier_channels; ++c) {
    int64_t j = --low;
    int64_t ch = j + (rng.uniform() < 0.5 ? 0 : P);
    hp.outlier[size_t(ch)] = (rng.uniform() < 0.5 ? -1.0 : 1.0) * s.outlier_scale;
  }
  if (s.n_sink > 0) {
    int64_t j = --low;
    double a = 2.0 * std::numbers::pi * rng.uniform();
    hp.sink_dir[size_t(j)] = std::cos(a);
    hp.sink_dir[size_t(j + P)] = std::sin(a);
  }
  int64_t budget_pos = low - m - (s.n_needles > 0);
  int64_t n_pos = 0;
  if (s.recency_strength > 0) {
    while (n_pos < budget_pos && inv_freq[size_t(n_pos)] * double(s.recency_window) >= 1.0) ++n_pos;
    GKV_ASSERT(n_pos >= 1, "validate_synth_spec guarantees a positional plane");
    double amp = kPositionalKeyNorm / std::sqrt(double(n_pos));
    for (int64_t j = 0; j < n_pos; ++j) {
      double a = 2.0 * std::numbers::pi * rng.uniform();
      hp.positional[size_t(j)] = amp * std::cos(a);
      hp.positional[size_t(j + P)] = amp * std::sin(a);
    }
  }
  for (int64_t j = n_pos; j < low; ++j) free_planes.push_back(j);
  for (size_t i = free_planes.size(); i > 1; --i) std::swap(free_planes[i - 1], free_planes[size_t(rng.below(int64_t(i)))]);
  std::vector<int64_t> content(free_planes.begin(), free_planes.begin() + m);
  std::vector<int64_t> needle_planes(free_planes.begin() + m, free_planes.end());
  std::sort(content.begin(), content.end());
  std::sort(needle_planes.begin(), needle_planes.end());

  // Content basis: key_rank orthonormal vectors spanning part of the 2m content channels
  // (Gram–Schmidt, twice, on Gaussian vectors). Spectrum λ_i ∝ key_decay^i, Σλ = d.
  std::vector<int64_t> content_ch;
  for (int64_t j : content) content_ch.push_back(j);
  for (int64_t j : content) content_ch.push_back(j + P);
  hp.basis.assign(size_t(s.key_rank), std::vector<double>(size_t(d), 0.0));
  for (int64_t r = 0; r < s.key_rank; ++r) {
    std::vector<double>& b = hp.basis[size_t(r)];
    for (int64_t ch : content_ch) b[size_t(ch)] = rng.normal();
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t p = 0; p < r; ++p) {
        const std::vector<double>& o = hp.basis[size_t(p)];
        double dot = 0;
        for (int64_t ch : content_ch) dot += b[size_t(ch)] * o[size_t(ch)];
        for (int64_t ch : content_ch) b[size_t(ch)] -= dot * o[size_t(ch)];
      }
      normalize(b);
    }
  }
  hp.lambda.resize(size_t(s.key_rank));
  double sum = 0;
  for (int64_t r = 0; r < s.key_rank; ++r) sum += (hp.lambda[size_t(r)] = std::pow(s.key_decay, double(r)));
  for (double& l : hp.lambda) l *= double(d) / sum;

  // Needles: distinct positions in [n_sink, n_kv - n_q - kNeedleMinAge) (falling back to
  // [n_sink, n_kv - n_q) when the context is short), each with a random unit direction in the
  // needle planes.
  if (s.n_needles > 0) {
    int64_t lo = s.n_sink, hi = s.n_kv - s.n_q - kNeedleMinAge;
    if (hi - lo < s.n_needles) hi = s.n_kv - s.n_q;
    int64_t n_place = std::max<int64_t>(0, std::min(s.n_needles, hi - lo));
    while (int64_t(hp.needle_pos.size()) < n_place) {
      int64_t t = lo + rng.below(hi - lo);
      if (std::find(hp.needle_pos.begin(), hp.needle_pos.end(), t) == hp.needle_pos.end()) hp.needle_pos.push_back(t);
    }
    std::sort(hp.needle_pos.begin(), hp.needle_pos.end());
    for (int64_t n = 0; n < n_place; ++n) {
      std::vector<double> u(size_t(d), 0.0);
      for (int64_t j : needle_planes) {
        u[size_t(j)] = rng.normal();
        u[size_t(j + P)] = rng.normal();
      }
      normalize(u);
      hp.needle_dir.push_back(std::move(u));
    }
  }
  return hp;
}

AttnInputs make_gaussian(const SynthSpec& s) {
  AttnInputs in;
  in.q = Tensor(DType::f32, {s.n_q, s.n_head_q, s.d_head});
  in.k = Tensor(DType::f32, {s.n_kv, s.n_head_kv, s.d_head});
  in.v = Tensor(DType::f32, {s.n_kv, s.n_head_kv, s.d_head});
  auto fill = [&](Tensor& t, Stream st) {
    Rng rng(s.seed, st, 0);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = float(rng.normal());
  };
  fill(in.q, kGaussQ);
  fill(in.k, kGaussK);
  fill(in.v, kGaussV);
  return in;
}

}  // namespace

AttnInputs make_synthetic(const SynthSpec& s, SynthLayout* layout) {
  validate_synth_spec(s);
  const int64_t d = s.d_head, group = s.n_head_q / s.n_head_kv;
  const double sigma = 1.0 / std::sqrt(double(d));

  AttnInputs in;
  SynthLayout lay;
  if (s.kind == "gaussian") {
    in = make_gaussian(s);
  } else {
    in.q = Tensor(DType::f32, {s.n_q, s.n_head_q, d});
    in.k = Tensor(DType::f32, {s.n_kv, s.n_head_kv, d});
    in.v = Tensor(DType::f32, {s.n_kv, s.n_head_kv, d});
    const std::vector<double> inv_freq = make_inv_freq(s);
    lay.n_sink = s.n_sink;

    // Diffuse heads: a seeded choice of round(frac · n_head_q) query heads.
    {
      Rng rng(s.seed, kLayout, 0);
      std::vector<int64_t> heads(size_t(s.n_head_q));
      std::iota(heads.begin(), heads.end(), int64_t(0));
      for (size_t i = heads.size(); i > 1; --i) std::swap(heads[i - 1], heads[size_t(rng.below(int64_t(i)))]);
      int64_t n_diffuse = std::llround(s.diffuse_head_frac * double(s.n_head_q));
      lay.diffuse_heads.assign(heads.begin(), heads.begin() + n_diffuse);
      std::sort(lay.diffuse_heads.begin(), lay.diffuse_heads.end());
    }

    std::vector<HeadPlan> plans;
    for (int64_t g = 0; g < s.n_head_kv; ++g) plans.push_back(plan_head(s, g, inv_freq));

    // Which (query row, query head) retrieves which needle: a run of round(frac · n_q) rows and a
    // random non-empty subset of the group's focused heads.
    for (int64_t g = 0; g < s.n_head_kv; ++g) {
      Rng rng(s.seed, kLayout, uint64_t(1 + g));
      std::vector<int64_t> focused;
      for (int64_t h = g * group; h < (g + 1) * group; ++h)
        if (!lay.is_diffuse(h)) focused.push_back(h);
      int64_t len = std::llround(s.needle_query_frac * double(s.n_q));
      for (int64_t pos : plans[size_t(g)].needle_pos) {
        SynthNeedle nd;
        nd.kv_head = g;
        nd.pos = pos;
        nd.q_begin = rng.below(s.n_q - len + 1);
        nd.q_end = nd.q_begin + len;
        for (int64_t h : focused)
          if (rng.uniform() < 0.5) nd.q_heads.push_back(h);
        if (nd.q_heads.empty() && !focused.empty()) nd.q_heads.push_back(focused[size_t(rng.below(int64_t(focused.size())))]);
        if (len == 0) nd.q_heads.clear();
        lay.needles.push_back(std::move(nd));
      }
    }

    // Keys and values, token by token per KV head.
    float* kp = in.k.data<float>();
    float* vp = in.v.data<float>();
    const double rho = s.content_corr_len > 0 ? std::exp(-1.0 / s.content_corr_len) : 0.0;
    const double innov = std::sqrt(1.0 - rho * rho);
    std::vector<double> a(static_cast<size_t>(s.key_rank)), k(static_cast<size_t>(d));
    std::vector<int64_t> outlier_ch;
    // The content a_t of the query tokens (t >= n_kv - n_q), per KV head: [n_head_kv][n_q][key_rank].
    std::vector<std::vector<double>> query_content(size_t(s.n_head_kv), std::vector<double>(size_t(s.n_q * s.key_rank)));
    for (int64_t g = 0; g < s.n_head_kv; ++g) {
      const HeadPlan& hp = plans[size_t(g)];
      outlier_ch.clear();
      for (int64_t c = 0; c < d; ++c)
        if (hp.outlier[size_t(c)] != 0.0) outlier_ch.push_back(c);
      Rng rk(s.seed, kKeys, uint64_t(g)), rv(s.seed, kValues, uint64_t(g));
      size_t next_needle = 0;
      for (int64_t t = 0; t < s.n_kv; ++t) {
        for (int64_t r = 0; r < s.key_rank; ++r) {
          double z = std::sqrt(hp.lambda[size_t(r)]) * rk.normal();
          a[size_t(r)] = t == 0 ? z : rho * a[size_t(r)] + innov * z;
        }
        if (t >= s.n_kv - s.n_q)
          std::copy(a.begin(), a.end(), query_content[size_t(g)].begin() + (t - (s.n_kv - s.n_q)) * s.key_rank);
        for (int64_t c = 0; c < d; ++c) k[size_t(c)] = s.key_noise * rk.normal() + hp.positional[size_t(c)];
        for (int64_t r = 0; r < s.key_rank; ++r)
          for (int64_t c = 0; c < d; ++c) k[size_t(c)] += a[size_t(r)] * hp.basis[size_t(r)][size_t(c)];
        for (int64_t c : outlier_ch) k[size_t(c)] += hp.outlier[size_t(c)] * (1.0 + s.outlier_jitter * rk.normal());
        if (t < s.n_sink)
          for (int64_t c = 0; c < d; ++c) k[size_t(c)] += kSinkKeyNorm * hp.sink_dir[size_t(c)];
        if (next_needle < hp.needle_pos.size() && hp.needle_pos[next_needle] == t) {
          for (int64_t c = 0; c < d; ++c) k[size_t(c)] += kNeedleKeyNorm * hp.needle_dir[next_needle][size_t(c)];
          ++next_needle;
        }
        rope_rotate(k.data(), d, double(t), inv_freq);
        float* krow = kp + (t * s.n_head_kv + g) * d;
        for (int64_t c = 0; c < d; ++c) krow[c] = float(k[size_t(c)]);

        double vscale = std::exp(s.value_norm_spread * rv.normal()) * (t < s.n_sink ? s.sink_value_scale : 1.0);
        float* vrow = vp + (t * s.n_head_kv + g) * d;
        for (int64_t c = 0; c < d; ++c) vrow[c] = float(vscale * rv.normal());
      }
    }

    // Queries: built pre-RoPE, then rotated at their own position.
    float* qp = in.q.data<float>();
    std::vector<double> q(static_cast<size_t>(d)), u(static_cast<size_t>(d)), w(static_cast<size_t>(s.key_rank));
    for (int64_t h = 0; h < s.n_head_q; ++h) {
      const int64_t g = h / group;
      const HeadPlan& hp = plans[size_t(g)];
      const bool diffuse = lay.is_diffuse(h);
      Rng rq(s.seed, kQueries, uint64_t(h));
      double pos_norm2 = 0, out_norm2 = 0;
      for (int64_t c = 0; c < d; ++c) {
        pos_norm2 += hp.positional[size_t(c)] * hp.positional[size_t(c)];
        out_norm2 += hp.outlier[size_t(c)] * hp.outlier[size_t(c)];
      }
      for (int64_t i = 0; i < s.n_q; ++i) {
        const double pos = double(s.n_kv - s.n_q + i);
        std::fill(q.begin(), q.end(), 0.0);
        // Content: w = ρ_q·(the query token's own content, whitened) + sqrt(1-ρ_q²)·fresh noise,
        // scaled so that the content scores have std background_strength (σ·sqrt(Σλ_r w_r²) for keys
        // near the query; RoPE mixes far keys within the same planes). The first term makes recent
        // keys, whose content is AR(1)-correlated with the query token's, score higher.
        double wl = 0;
        const double* a_pos = query_content[size_t(g)].data() + i * s.key_rank;
        for (int64_t r = 0; r < s.key_rank; ++r) {
          double white = a_pos[r] / std::sqrt(hp.lambda[size_t(r)]);
          w[size_t(r)] = s.content_query_corr * white + std::sqrt(1.0 - s.content_query_corr * s.content_query_corr) * rq.normal();
          wl += hp.lambda[size_t(r)] * w[size_t(r)] * w[size_t(r)];
        }
        if (wl > 0) {
          double coef = s.background_strength / (sigma * std::sqrt(wl));
          for (int64_t r = 0; r < s.key_rank; ++r)
            for (int64_t c = 0; c < d; ++c) q[size_t(c)] += coef * w[size_t(r)] * hp.basis[size_t(r)][size_t(c)];
        }
        // Positional: score recency_strength · mean_j cos(Δ·θ_j) with every key's constant c.
        if (pos_norm2 > 0)
          for (int64_t c = 0; c < d; ++c) q[size_t(c)] += s.recency_strength / (sigma * pos_norm2) * hp.positional[size_t(c)];
        // Outlier channels: a common logit outlier_logit · Σ o_c² cos(Δ·θ_c) / Σ o_c².
        if (out_norm2 > 0)
          for (int64_t c = 0; c < d; ++c) q[size_t(c)] += s.outlier_logit / (sigma * out_norm2) * hp.outlier[size_t(c)];
        // Sinks: retrieve the sink direction as seen at the middle sink position.
        auto add_retrieval = [&](const std::vector<double>& dir, double t, double margin, double key_norm) {
          u = dir;
          rope_rotate(u.data(), d, t - pos, inv_freq);
          for (int64_t c = 0; c < d; ++c) q[size_t(c)] += margin / (sigma * key_norm) * u[size_t(c)];
        };
        if (s.n_sink > 0) add_retrieval(hp.sink_dir, 0.5 * double(s.n_sink - 1), s.sink_strength, kSinkKeyNorm);
        // Needles this (row, head) retrieves.
        for (size_t n = 0; n < hp.needle_pos.size(); ++n) {
          const SynthNeedle* nd = nullptr;
          for (const SynthNeedle& x : lay.needles)
            if (x.kv_head == g && x.pos == hp.needle_pos[n]) nd = &x;
          GKV_ASSERT(nd != nullptr);
          if (i < nd->q_begin || i >= nd->q_end) continue;
          if (std::find(nd->q_heads.begin(), nd->q_heads.end(), h) == nd->q_heads.end()) continue;
          add_retrieval(hp.needle_dir[n], double(nd->pos), s.needle_strength, kNeedleKeyNorm);
        }
        if (diffuse)
          for (double& x : q) x *= s.diffuse_scale;
        rope_rotate(q.data(), d, pos, inv_freq);
        float* qrow = qp + (i * s.n_head_q + h) * d;
        for (int64_t c = 0; c < d; ++c) qrow[c] = float(q[size_t(c)]);
      }
    }
  }

  in.positions = Tensor(DType::i64, {s.n_q});
  for (int64_t i = 0; i < s.n_q; ++i) in.positions.data<int64_t>()[i] = s.n_kv - s.n_q + i;
  in.scale = sigma;
  in.name_q = "synth.q";
  in.name_k = "synth.k";
  in.name_v = "synth.v";
  in.name_positions = "synth.positions";
  if (layout) *layout = std::move(lay);
  return in;
}

std::string synth_describe(const SynthSpec& s) {
  std::string head = str_cat("synth ", s.kind, ": n_kv=", s.n_kv, " n_q=", s.n_q, " n_head_q=", s.n_head_q,
                             " n_head_kv=", s.n_head_kv, " d_head=", s.d_head, " seed=", s.seed);
  if (s.kind != "structured") return head + " (q, k, v iid N(0,1); scale 1/sqrt(d))";
  return head + str_cat(" | keys: rank ", s.key_rank, " decay ", s.key_decay, " noise ", s.key_noise, " corr ",
                        s.content_corr_len, " tok, ", s.outlier_channels, " outlier ch x", s.outlier_scale, " (logit ",
                        s.outlier_logit, ") | scores: background ", s.background_strength, " (query-content corr ",
                        s.content_query_corr, "), ", s.n_sink, " sinks +",
                        s.sink_strength, ", recency +", s.recency_strength, "/", s.recency_window, " tok, ", s.n_needles,
                        " needles +", s.needle_strength, " (", s.needle_query_frac, " of queries), diffuse heads ",
                        s.diffuse_head_frac, " (x", s.diffuse_scale, ") | values: norm spread ", s.value_norm_spread,
                        ", sinks x", s.sink_value_scale, " | rope theta ", s.rope_theta, " half-split");
}

}  // namespace ghostkv
