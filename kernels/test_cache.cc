// GhostCache (cache.h) and its C interface (c_api.h) on the host: the refusals that come before any CUDA call, and
// the CUDA error where the machine has no GPU. The decode itself runs on a GPU: scripts/gpu_python_check.py, and the
// append test below (skipped without a GPU, run by the device calls).
#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "c_api.h"
#include "cache.h"
#include "check64.h"
#include "ghostkv/half.h"
#include "gpu_hook.h"

using namespace ghostkv::cuda;

namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  return x;
}

std::string invalid(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "no exception";
}

bool have_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace

TEST(CudaCache, RefusesBadShapesAndOptions) {
  const auto k = randn(300 * 2 * 128, 1), v = randn(300 * 2 * 128, 2);
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 100); }).find("d 100"), std::string::npos);
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 0, 2, 128); }).find("n 0"), std::string::npos);
  EXPECT_NE(invalid([&] { GhostCache(nullptr, v.data(), 300, 2, 128); }).find("null"), std::string::npos);
  CacheOptions o;
  o.bits = "3";
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128, o); }).find("8, 4, mixed or lowrank (got '3')"),
            std::string::npos);
  o.bits = "lowrank8";
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128, o); }).find("'lowrank8'"), std::string::npos);
  o = {};
  o.delta = 1.5;
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128, o); }).find("delta"), std::string::npos);
}

TEST(CudaCache, NamesANonFiniteKeyOrValue) {
  auto k = randn(300 * 2 * 128, 1), v = randn(300 * 2 * 128, 2);
  k[(5 * 2 + 1) * 128 + 7] = NAN;
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128); }).find("key nan at token 5, KV head 1, component 7"),
            std::string::npos);
  k[(5 * 2 + 1) * 128 + 7] = 0.0f;
  v[(299 * 2 + 0) * 128 + 127] = INFINITY;
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128); }).find("value inf at token 299, KV head 0, component 127"),
            std::string::npos);
}

TEST(CudaCache, CInterfaceReportsWithoutThrowing) {
  auto k = randn(300 * 2 * 128, 1), v = randn(300 * 2 * 128, 2);
  char err[512];
  gkv_cache* c = reinterpret_cast<gkv_cache*>(1);
  k[3] = NAN;
  EXPECT_EQ(gkv_cache_new(k.data(), v.data(), 300, 2, 128, "8", 4, 64, 1e-3, &c, err, sizeof err), -2);
  EXPECT_EQ(c, nullptr);
  EXPECT_NE(std::string(err).find("key nan at token 0, KV head 0, component 3"), std::string::npos) << err;
  EXPECT_EQ(gkv_cache_new(k.data(), v.data(), 300, 2, 128, nullptr, 4, 64, 1e-3, &c, err, sizeof err), -2);
  EXPECT_NE(std::string(err).find("bits must be"), std::string::npos) << err;
  EXPECT_EQ(gkv_cache_new(k.data(), v.data(), 300, 2, 128, "8", 4, 64, 1e-3, nullptr, err, sizeof err), -1);
  char tiny[8];  // a short buffer still ends in a terminator
  EXPECT_EQ(gkv_cache_new(k.data(), v.data(), 300, 2, 128, "3", 4, 64, 1e-3, &c, tiny, sizeof tiny), -2);
  EXPECT_EQ(std::string(tiny).size(), sizeof tiny - 1);
  double cert[GKV_CERT_FIELDS];
  float q[128] = {}, out[128];
  EXPECT_EQ(gkv_cache_decode(nullptr, q, 1, 0.1, 0, out, cert, err, sizeof err), -1);
  gkv_cache_free(nullptr);  // no-op
}

TEST(CudaCache, WithoutAGpuTheCudaErrorIsNamed) {
  const auto k = randn(300 * 2 * 128, 1), v = randn(300 * 2 * 128, 2);
  if (have_gpu()) {  // a GPU machine builds the cache: then a decode's refusals are the host's
    GhostCache c(k.data(), v.data(), 300, 2, 128);
    std::vector<float> q(3 * 128), out(3 * 128);
    std::vector<Certificate> cert(3);
    EXPECT_NE(invalid([&] { c.decode(q.data(), 3, 0.1, out.data(), cert.data()); }).find("multiple of n_head_kv 2"),
              std::string::npos);
    return;
  }
  for (const std::string bits : {"8", "lowrank"}) {  // every witness passes the host's checks and meets the CUDA call
    CacheOptions o;
    o.bits = bits, o.anchors = bits == "lowrank";
    try {
      GhostCache(k.data(), v.data(), 300, 2, 128, o);
      ADD_FAILURE() << "built without a GPU (bits " << bits << ")";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("GhostCache: cudaGetDeviceCount"), std::string::npos) << bits << ": " << e.what();
    }
  }
}

TEST(CudaCache, RefusesACapacityBelowN) {
  const auto k = randn(300 * 2 * 128, 1), v = randn(300 * 2 * 128, 2);
  CacheOptions o;
  o.capacity = 299;
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128, o); }).find("capacity 299 must be 0 or in [n 300"),
            std::string::npos);
  o.capacity = -5;
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128, o); }).find("capacity -5"), std::string::npos);
  char err[512];
  gkv_cache* c = nullptr;
  EXPECT_EQ(gkv_cache_new_capacity(k.data(), v.data(), 300, 2, 128, "8", 4, 64, 1e-3, 10, &c, err, sizeof err), -2);
  EXPECT_NE(std::string(err).find("capacity 10"), std::string::npos) << err;
  EXPECT_EQ(gkv_cache_append(nullptr, k.data(), v.data(), 1, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("null cache"), std::string::npos) << err;
  EXPECT_EQ(gkv_cache_len(nullptr), -1);
  uint8_t kept[4];
  double bound[4];
  EXPECT_EQ(gkv_cache_last_step(nullptr, 2, 2, kept, bound, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("gkv_cache_last_step: null cache"), std::string::npos) << err;
  EXPECT_EQ(gkv_cache_refit(nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("gkv_cache_refit: null cache"), std::string::npos) << err;
}

namespace {

// float64 attention of one query head over the tokens with keep[t] (all where keep is empty) of [n, hkv, d] keys and
// values rounded to bf16, and each token's score
std::vector<double> attend64(const std::vector<float>& k, const std::vector<float>& v, int64_t n, int hkv, int d, int g,
                             const float* q, double scale, const std::vector<uint8_t>& keep, std::vector<double>* scores) {
  auto bf = [](float x) { return double(ghostkv::bf16_to_f32(ghostkv::f32_to_bf16(x))); };
  std::vector<double> s(static_cast<size_t>(n)), o(static_cast<size_t>(d), 0.0);
  double mx = -INFINITY;
  for (int64_t t = 0; t < n; ++t) {
    double a = 0;
    for (int j = 0; j < d; ++j) a += double(q[j]) * bf(k[(size_t(t) * hkv + g) * d + j]);
    s[size_t(t)] = a * scale;
    mx = std::max(mx, s[size_t(t)]);
  }
  double z = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (!keep.empty() && !keep[size_t(t)]) continue;
    const double w = std::exp(s[size_t(t)] - mx);
    z += w;
    for (int j = 0; j < d; ++j) o[size_t(j)] += w * bf(v[(size_t(t) * hkv + g) * d + j]);
  }
  for (double& x : o) x /= z;
  if (scores) *scores = s;
  return o;
}

// far tokens (64-255, and 400-599 where there are so many): each KV head's key 40 against the sum of its group's query
// directions (scores near −20 for every head of the group, at d 128 and σ = 1/√d), so ghost steps give them up
void far_keys(std::vector<float>& k, const std::vector<float>& q, int64_t n, int hkv, int hq, int d) {
  for (int g = 0; g < hkv; ++g) {
    std::vector<double> dir(static_cast<size_t>(d), 0.0);
    for (int h = g * (hq / hkv); h < (g + 1) * (hq / hkv); ++h) {
      double qn = 0;
      for (int j = 0; j < d; ++j) qn += double(q[size_t(h) * d + j]) * q[size_t(h) * d + j];
      for (int j = 0; j < d; ++j) dir[size_t(j)] += q[size_t(h) * d + j] / std::sqrt(qn);
    }
    double dn = 0;
    for (double x : dir) dn += x * x;
    for (int64_t t = 0; t < n; ++t)
      if ((t >= 64 && t < 256) || (t >= 400 && t < 600))
        for (int j = 0; j < d; ++j)
          k[(size_t(t) * hkv + g) * d + j] = float(-40.0 * dir[size_t(j)] / std::sqrt(dn) + 0.1 * k[(size_t(t) * hkv + g) * d + j]);
  }
}

}  // namespace

// The float64 step check (check64.h) on constructed steps, no GPU: an output, bounds and a kept list it must pass, and
// each way a step can be wrong caught and named: an output off attention, a bound below its score (or NaN), more mass
// given up than the certificate says, a flagged head, a mass bound above δ.
TEST(CudaCheck64, PassesAGoodStepAndNamesEachFault) {
  const int hkv = 2, d = 64, g = 1;
  const int64_t n = 200;
  const std::vector<float> k = randn(size_t(n) * hkv * d, 21), v = randn(size_t(n) * hkv * d, 22);
  std::vector<float> q = randn(size_t(d), 23);
  const double scale = 0.5;
  // dense: every token, the output float64 attention rounded to float32
  std::vector<double> s;
  const std::vector<double> full = attend64(k, v, n, hkv, d, g, q.data(), scale, {}, &s);
  std::vector<float> out(full.begin(), full.end());
  Certificate ce{};
  HeadCheck r = check_head(q.data(), k.data(), v.data(), n, hkv, d, g, scale, out.data(), ce, 0.0);
  EXPECT_TRUE(r.cert_ok) << r.failed;
  EXPECT_LT(r.out_err, 1e-6 * r.exact_norm);
  EXPECT_TRUE(std::isnan(r.mass_lost));
  std::vector<float> off = out;
  off[3] += float(1e-3 * r.exact_norm);
  r = check_head(q.data(), k.data(), v.data(), n, hkv, d, g, scale, off.data(), ce, 0.0);
  EXPECT_FALSE(r.cert_ok);
  EXPECT_STREQ(r.failed, "output error above out_err_bound");
  // a ghost step: the 20 lowest-scoring tokens given up, bounds 0.5 above every score
  std::vector<size_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] < s[b]; });
  std::vector<uint8_t> keep(static_cast<size_t>(n), 1);
  for (int i = 0; i < 20; ++i) keep[order[size_t(i)]] = 0;
  double mx = -INFINITY, z = 0, lost = 0;
  for (double x : s) mx = std::max(mx, x);
  for (int64_t t = 0; t < n; ++t) z += std::exp(s[size_t(t)] - mx), lost += keep[size_t(t)] ? 0 : std::exp(s[size_t(t)] - mx);
  lost /= z;
  const std::vector<double> kept = attend64(k, v, n, hkv, d, g, q.data(), scale, keep, nullptr);
  double kd = 0;
  for (int j = 0; j < d; ++j) kd += (kept[size_t(j)] - full[size_t(j)]) * (kept[size_t(j)] - full[size_t(j)]);
  out.assign(kept.begin(), kept.end());
  std::vector<double> bound(s);
  for (double& b : bound) b += 0.5;
  ce.mass_bound = 1.5 * lost, ce.out_err_bound = 1.5 * std::sqrt(kd);
  const double delta = 2 * lost;
  r = check_head(q.data(), k.data(), v.data(), n, hkv, d, g, scale, out.data(), ce, delta, keep.data(), bound.data());
  EXPECT_TRUE(r.cert_ok) << r.failed;
  EXPECT_EQ(r.violations, 0);
  EXPECT_NEAR(r.mass_lost, lost, 1e-12);
  EXPECT_GT(r.mass_lost, 0.0);
  EXPECT_NEAR(r.kept_err, std::sqrt(kd), 1e-9);
  EXPECT_LT(r.num_err, 1e-6);
  auto fails = [&](const Certificate& c2, double dl, const std::vector<double>& b2, const std::vector<float>& o2) {
    const HeadCheck x = check_head(q.data(), k.data(), v.data(), n, hkv, d, g, scale, o2.data(), c2, dl, keep.data(), b2.data());
    return x.cert_ok ? std::string("passed") : std::string(x.failed) + " (" + std::to_string(x.violations) + ")";
  };
  std::vector<double> low = bound;
  low[order[5]] = s[order[5]] - 1e-9;  // a given-up token's bound just below its score
  EXPECT_EQ(fails(ce, delta, low, out), "a bound below its exact score (1)");
  low = bound;
  low[order[150]] = NAN;  // a kept token's bound not written
  EXPECT_EQ(fails(ce, delta, low, out), "a bound below its exact score (1)");
  Certificate c2 = ce;
  c2.mass_bound = 0.9 * lost;
  EXPECT_EQ(fails(c2, delta, bound, out), "mass lost above mass_bound (0)");
  c2 = ce;
  c2.out_err_bound = 0.5 * std::sqrt(kd);
  const std::string e = fails(c2, delta, bound, out);
  EXPECT_TRUE(e == "output error above out_err_bound (0)" || e == "eliminated output change above out_err_bound (0)") << e;
  c2 = ce;
  c2.flags = kCertNonFiniteHot;
  EXPECT_EQ(fails(c2, delta, bound, out), "flagged (0)");
  EXPECT_EQ(fails(ce, lost, bound, out), "mass_bound above delta (0)");
  std::vector<float> moved = out;  // off the kept tokens' attention by 1e-3 of its norm
  double kn = 0;
  for (double x : kept) kn += x * x;
  moved[7] += float(1e-3 * std::sqrt(kn));
  c2 = ce;
  c2.out_err_bound = 10;  // so only the comparison with the kept tokens' attention can fail
  EXPECT_EQ(fails(c2, delta, bound, moved), "output off attention over the attended tokens (0)");
}

// On a GPU (skipped without one; the device run executes it): a cache built with room grows by appends of 1, 63, 64 and
// 200 tokens; after each, every head of a ghost step is within its certificate of exact attention over all the tokens
// held, with its detail (last_step: no bound below its exact score, the mass given up within mass_bound, the far tokens
// given up, the list's length the certificate's n_attended; none after a dense step, an append, or before a decode),
// the dense step is bitwise that of a cache built from all of them at once (the same bf16 pages), and a spike token
// appended last (its key along the query) takes the output to its value. Refusals: no room, a NaN naming its
// token, nothing changed by them.
namespace {

void append_grows(const std::string& bits) {
  SCOPED_TRACE("bits " + bits);
  const int hkv = 2, d = 128, hq = 8;
  const int64_t n0 = 300, cap = 1000;
  std::vector<float> k = randn(size_t(cap) * hkv * d, 7), v = randn(size_t(cap) * hkv * d, 8);
  const std::vector<float> q = randn(size_t(hq) * d, 9);
  const double scale = 1.0 / std::sqrt(double(d));
  far_keys(k, q, cap, hkv, hq, d);
  CacheOptions o;
  o.capacity = cap, o.bits = bits;
  GhostCache c(k.data(), v.data(), n0, hkv, d, o);
  EXPECT_EQ(c.n(), n0);
  EXPECT_EQ(c.capacity(), cap);
  int64_t n = n0;
  std::vector<float> out(size_t(hq) * d), out_d(size_t(hq) * d), ref_d(size_t(hq) * d);
  std::vector<Certificate> cert(static_cast<size_t>(hq));
  StepDetail det;
  auto check_step = [&](const char* when) {
    SCOPED_TRACE(std::string(when) + ", n " + std::to_string(n));
    c.decode(q.data(), hq, scale, out.data(), cert.data());
    c.last_step(&det);
    ASSERT_EQ(det.n, n);
    ASSERT_EQ(det.n_head_q, hq);
    for (int g = 0; g < hkv; ++g)  // the hot tokens are attended
      for (int64_t t = 0; t < n; ++t)
        if (t < o.n_sink || t >= n - o.n_recent) {
          EXPECT_EQ(det.kept[size_t(g) * n + t], 1) << "KV head " << g << " token " << t;
        }
    for (int h = 0; h < hq; ++h) {
      const int g = h / (hq / hkv);
      const HeadCheck r = check_head(q.data() + size_t(h) * d, k.data(), v.data(), n, hkv, d, g, scale,
                                     out.data() + size_t(h) * d, cert[size_t(h)], o.delta, det.kept.data() + size_t(g) * n,
                                     det.bound.data() + size_t(h) * n);
      EXPECT_TRUE(r.cert_ok) << "head " << h << ": " << r.failed << ", " << r.violations << " violations";
      const int64_t att = std::count(det.kept.begin() + g * n, det.kept.begin() + (g + 1) * n, uint8_t(1));
      EXPECT_EQ(att, cert[size_t(h)].n_attended) << "head " << h;
      EXPECT_LE(att, n - 150) << "head " << h << ": the far tokens were not given up";
      EXPECT_GT(r.mass_lost, 0.0) << "head " << h;
    }
    c.decode(q.data(), hq, scale, out_d.data(), cert.data(), true);
    EXPECT_NE(invalid([&] { c.last_step(&det); }).find("the last decode was dense"), std::string::npos);
    GhostCache whole(k.data(), v.data(), n, hkv, d);
    EXPECT_NE(invalid([&] { whole.last_step(&det); }).find("no decode has finished"), std::string::npos);
    whole.decode(q.data(), hq, scale, ref_d.data(), cert.data(), true);
    EXPECT_EQ(std::memcmp(out_d.data(), ref_d.data(), out_d.size() * 4), 0) << "dense step differs from a fresh cache";
  };
  check_step("built");
  for (int64_t m : {1, 63, 64, 200}) {
    c.append(k.data() + size_t(n) * hkv * d, v.data() + size_t(n) * hkv * d, m);
    EXPECT_NE(invalid([&] { c.last_step(&det); }).find("changed since the last decode"), std::string::npos);
    n += m;
    EXPECT_EQ(c.n(), n);
    check_step("appended");
  }
  // no room; a NaN (named by its token); neither changes the cache
  EXPECT_NE(invalid([&] { c.append(k.data(), v.data(), cap - n + 1); }).find("room for " + std::to_string(cap - n)),
            std::string::npos);
  std::vector<float> bad(size_t(3) * hkv * d, 0.5f);
  bad[size_t(2) * hkv * d + d + 5] = NAN;
  EXPECT_NE(invalid([&] { c.append(bad.data(), bad.data(), 3); }).find("at token " + std::to_string(n + 2) + ", KV head 1, component 5"),
            std::string::npos);
  EXPECT_EQ(c.n(), n);
  check_step("after the refusals");
  // a spike: one token whose key is 40 along query head 0's direction for KV head 0, value 100 in component 3
  std::vector<float> sk(size_t(hkv) * d, 0.0f), sv(size_t(hkv) * d, 0.0f);
  double qn = 0;
  for (int j = 0; j < d; ++j) qn += double(q[size_t(j)]) * q[size_t(j)];
  for (int j = 0; j < d; ++j) sk[size_t(j)] = float(40.0 * q[size_t(j)] / std::sqrt(qn));
  sv[3] = 100.0f;
  std::copy(sk.begin(), sk.end(), k.begin() + ptrdiff_t(n) * hkv * d);
  std::copy(sv.begin(), sv.end(), v.begin() + ptrdiff_t(n) * hkv * d);
  c.append(sk.data(), sv.data(), 1);
  ++n;
  check_step("spike");
  EXPECT_GT(out[3], 90.0f) << "the appended spike token was not attended";
}

}  // namespace

TEST(CudaCache, AppendGrowsTheCacheWithinItsCertificates) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU: the device run executes this test";
  for (const std::string bits : {"8", "lowrank"}) append_grows(bits);
}

// On a GPU: a cache built from 300 tokens and grown to 1000 (keys of another kind appended: the far tokens 400-599),
// refitted, is the cache built from all 1000 at once: every bound of a ghost step bitwise the same, the same tokens
// attended, the dense step bitwise the same; and it still grows within its certificates after the refit.
namespace {

void refit_is_built_at_once(const std::string& bits) {
  SCOPED_TRACE("bits " + bits);
  const int hkv = 2, d = 128, hq = 8;
  const int64_t n0 = 300, n1 = 1000, cap = 1100;
  std::vector<float> k = randn(size_t(cap) * hkv * d, 17), v = randn(size_t(cap) * hkv * d, 18);
  const std::vector<float> q = randn(size_t(hq) * d, 19);
  const double scale = 1.0 / std::sqrt(double(d));
  far_keys(k, q, cap, hkv, hq, d);
  CacheOptions o;
  o.capacity = cap, o.bits = bits;
  GhostCache c(k.data(), v.data(), n0, hkv, d, o);
  c.append(k.data() + size_t(n0) * hkv * d, v.data() + size_t(n0) * hkv * d, n1 - n0);
  std::vector<float> out(size_t(hq) * d), out_f(size_t(hq) * d);
  std::vector<Certificate> cert(static_cast<size_t>(hq)), cert_f(static_cast<size_t>(hq));
  StepDetail grown, refit, fresh;
  c.decode(q.data(), hq, scale, out.data(), cert.data());
  c.last_step(&grown);
  c.refit();
  EXPECT_EQ(c.n(), n1);
  EXPECT_NE(invalid([&] { c.last_step(&refit); }).find("changed since the last decode"), std::string::npos);
  c.decode(q.data(), hq, scale, out.data(), cert.data());
  c.last_step(&refit);
  CacheOptions ow;
  ow.bits = bits;
  GhostCache whole(k.data(), v.data(), n1, hkv, d, ow);
  whole.decode(q.data(), hq, scale, out_f.data(), cert_f.data());
  whole.last_step(&fresh);
  ASSERT_EQ(refit.bound.size(), fresh.bound.size());
  EXPECT_EQ(std::memcmp(refit.bound.data(), fresh.bound.data(), refit.bound.size() * 8), 0) << "bounds differ from a fresh build";
  EXPECT_EQ(refit.kept, fresh.kept);
  for (int h = 0; h < hq; ++h) {
    EXPECT_EQ(cert[size_t(h)].n_attended, cert_f[size_t(h)].n_attended) << "head " << h;
    EXPECT_EQ(cert[size_t(h)].theta, cert_f[size_t(h)].theta) << "head " << h;
    const HeadCheck r = check_head(q.data() + size_t(h) * d, k.data(), v.data(), n1, hkv, d, h / (hq / hkv), scale,
                                   out.data() + size_t(h) * d, cert[size_t(h)], o.delta,
                                   refit.kept.data() + size_t(h / (hq / hkv)) * n1, refit.bound.data() + size_t(h) * n1);
    EXPECT_TRUE(r.cert_ok) << "head " << h << ": " << r.failed;
  }
  int64_t differ = 0;  // the basis of 300 tokens gave other bounds (it had not seen the far keys 400-599)
  for (size_t i = 0; i < grown.bound.size(); ++i) differ += std::memcmp(&grown.bound[i], &refit.bound[i], 8) != 0;
  EXPECT_GT(differ, 0);
  c.decode(q.data(), hq, scale, out.data(), cert.data(), true);
  whole.decode(q.data(), hq, scale, out_f.data(), cert_f.data(), true);
  EXPECT_EQ(std::memcmp(out.data(), out_f.data(), out.size() * 4), 0) << "dense step differs from a fresh build";
  c.append(k.data() + size_t(n1) * hkv * d, v.data() + size_t(n1) * hkv * d, cap - n1);  // grows on after the refit
  c.decode(q.data(), hq, scale, out.data(), cert.data());
  c.last_step(&refit);
  for (int h = 0; h < hq; ++h) {
    const HeadCheck r = check_head(q.data() + size_t(h) * d, k.data(), v.data(), cap, hkv, d, h / (hq / hkv), scale,
                                   out.data() + size_t(h) * d, cert[size_t(h)], o.delta,
                                   refit.kept.data() + size_t(h / (hq / hkv)) * cap, refit.bound.data() + size_t(h) * cap);
    EXPECT_TRUE(r.cert_ok) << "after the refit and an append, head " << h << ": " << r.failed;
  }
}

}  // namespace

TEST(CudaCache, RefitIsTheCacheBuiltAtOnce) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU: the device run executes this test";
  for (const std::string bits : {"8", "lowrank"}) refit_is_built_at_once(bits);
}

// On a GPU: with page anchors the far pages (1-3 and 7-8: every token far) are given up whole, their codes unread
// (pages_read below the page count), every bound (the page's, for their tokens) at or above its exact score, and the step
// within its certificate, built and after an append; the dense step as without anchors.
TEST(CudaCache, AnchorsGiveUpWholePagesWithinTheCertificate) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU: the device run executes this test";
  const int hkv = 2, d = 128, hq = 8;
  const int64_t n0 = 700, cap = 900;
  std::vector<float> k = randn(size_t(cap) * hkv * d, 27), v = randn(size_t(cap) * hkv * d, 28);
  const std::vector<float> q = randn(size_t(hq) * d, 29);
  const double scale = 1.0 / std::sqrt(double(d));
  far_keys(k, q, cap, hkv, hq, d);
  for (const std::string bits : {"8", "4", "mixed", "lowrank"}) {
    SCOPED_TRACE("bits " + bits);
    CacheOptions o;
    o.capacity = cap, o.anchors = true, o.bits = bits;
    GhostCache c(k.data(), v.data(), n0, hkv, d, o);
    std::vector<float> out(size_t(hq) * d), out_d(size_t(hq) * d), ref_d(size_t(hq) * d);
    std::vector<Certificate> cert(static_cast<size_t>(hq));
    StepDetail det;
    int64_t n = n0;
    for (int round = 0; round < 2; ++round) {
      c.decode(q.data(), hq, scale, out.data(), cert.data());
      c.last_step(&det);
      const int64_t pages = (n + kPage - 1) / kPage;
      for (int g = 0; g < hkv; ++g) {
        EXPECT_LE(det.pages_read[size_t(g)], pages - 5) << "KV head " << g << ": the far pages' codes were read";
        EXPECT_GE(det.pages_read[size_t(g)], 1) << "KV head " << g;
      }
      for (int h = 0; h < hq; ++h) {
        const int g = h / (hq / hkv);
        const HeadCheck r = check_head(q.data() + size_t(h) * d, k.data(), v.data(), n, hkv, d, g, scale,
                                       out.data() + size_t(h) * d, cert[size_t(h)], o.delta,
                                       det.kept.data() + size_t(g) * n, det.bound.data() + size_t(h) * n);
        EXPECT_TRUE(r.cert_ok) << "n " << n << ", head " << h << ": " << r.failed << ", " << r.violations << " violations";
        EXPECT_GT(r.mass_lost, 0.0) << "head " << h;
      }
      c.decode(q.data(), hq, scale, out_d.data(), cert.data(), true);
      GhostCache plain(k.data(), v.data(), n, hkv, d);
      plain.decode(q.data(), hq, scale, ref_d.data(), cert.data(), true);
      EXPECT_EQ(std::memcmp(out_d.data(), ref_d.data(), out_d.size() * 4), 0) << "dense step with anchors differs";
      if (round == 0) {  // then the same checks on the grown cache
        c.append(k.data() + size_t(n) * hkv * d, v.data() + size_t(n) * hkv * d, cap - n);
        n = cap;
      }
    }
  }
}

// On two GPUs (skipped with fewer): a cache is used only on the device it was built on; every call names both devices.
TEST(CudaCache, RefusesAnotherDevice) {
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev < 2) GTEST_SKIP() << "needs two CUDA GPUs";
  const auto k = randn(300 * 2 * 128, 1), v = randn(300 * 2 * 128, 2), q = randn(4 * 128, 3);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  CacheOptions o;
  o.capacity = 400;
  GhostCache c(k.data(), v.data(), 300, 2, 128, o);
  std::vector<float> out(4 * 128);
  std::vector<Certificate> cert(4);
  c.decode(q.data(), 4, 0.1, out.data(), cert.data());
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  const std::string want = "the cache is on device 0, the current device is 1";
  StepDetail det;
  EXPECT_NE(invalid([&] { c.decode(q.data(), 4, 0.1, out.data(), cert.data()); }).find(want), std::string::npos);
  EXPECT_NE(invalid([&] { c.append(k.data(), v.data(), 1); }).find(want), std::string::npos);
  EXPECT_NE(invalid([&] { c.last_step(&det); }).find(want), std::string::npos);
  EXPECT_NE(invalid([&] { c.refit(); }).find(want), std::string::npos);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(c.n(), 300);
  c.last_step(&det);  // nothing changed: the detail of the step before is still there
  EXPECT_EQ(det.n, 300);
}

// The decode-loop hook on the host: shapes the GPU path lacks are refused when it is built, and a prefill (several
// queries) goes to the CPU engine's dense attention without a CUDA call.
TEST(CudaCache, GpuHookRefusesShapesAndLeavesPrefillsDense) {
  ghostkv::ModelConfig cfg;
  cfg.d_model = 512, cfg.n_layer = 2, cfg.n_head_q = 4, cfg.n_head_kv = 2, cfg.d_head = 128, cfg.d_ff = 1024;
  cfg.n_vocab = 100, cfg.max_pos = 4096;
  auto what = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  ghostkv::ModelConfig bad = cfg;
  bad.d_head = 32;
  EXPECT_NE(what([&] { GpuEliminationHook(bad, 100, {}); }).find("d_head 64 or 128, the model has 32"), std::string::npos);
  bad = cfg;
  bad.n_head_q = 16, bad.n_head_kv = 2, bad.d_head = 64;
  EXPECT_NE(what([&] { GpuEliminationHook(bad, 100, {}); }).find("1-4 query heads per KV head, the model has 16 over 2"),
            std::string::npos);
  EXPECT_NE(what([&] { GpuEliminationHook(cfg, 0, {}); }).find("capacity 0"), std::string::npos);
  GpuEliminationHook hook(cfg, 100, {});
  std::vector<float> q(2 * 4 * 128), k(10 * 2 * 128), v(10 * 2 * 128), out(2 * 4 * 128);
  const int64_t pos[2] = {8, 9};
  EXPECT_FALSE(hook.attend(0, q.data(), pos, 2, k.data(), v.data(), 10, out.data()));
  EXPECT_EQ(hook.dense_calls(), 1);
  EXPECT_TRUE(hook.stats().empty());
}
