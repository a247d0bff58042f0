// GhostCache (cache.h) and its C interface (c_api.h) on the host: the refusals that come before any CUDA call, and
// the CUDA error where the machine has no GPU. The decode itself runs on a GPU: scripts/gpu_python_check.py, and the
// append test below (skipped without a GPU, run by the device calls).
#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "c_api.h"
#include "cache.h"
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
  EXPECT_NE(invalid([&] { GhostCache(k.data(), v.data(), 300, 2, 128, o); }).find("'3'"), std::string::npos);
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
  try {
    GhostCache(k.data(), v.data(), 300, 2, 128);
    ADD_FAILURE() << "built without a GPU";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("GhostCache: cudaGetDeviceCount"), std::string::npos) << e.what();
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
}

namespace {

// exact attention of one query head over tokens [0, n) of [n, hkv, d] keys and values rounded to bf16, in double
std::vector<double> exact_head(const std::vector<float>& k, const std::vector<float>& v, int64_t n, int hkv, int d, int g,
                               const float* q, double scale) {
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
    const double w = std::exp(s[size_t(t)] - mx);
    z += w;
    for (int j = 0; j < d; ++j) o[size_t(j)] += w * bf(v[(size_t(t) * hkv + g) * d + j]);
  }
  for (double& x : o) x /= z;
  return o;
}

}  // namespace

// On a GPU (skipped without one; the device run executes it): a cache built with room grows by appends of 1, 63, 64 and
// 200 tokens; after each, every head of a ghost step is within its certificate of exact attention over all the tokens
// held, the dense step is bitwise that of a cache built from all of them at once (the same bf16 pages), and a spike
// token appended last (its key along the query) takes the output to its value. Refusals: no room, a NaN naming its
// token, nothing changed by them.
TEST(CudaCache, AppendGrowsTheCacheWithinItsCertificates) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU: the device run executes this test";
  const int hkv = 2, d = 128, hq = 8;
  const int64_t n0 = 300, cap = 1000;
  std::vector<float> k = randn(size_t(cap) * hkv * d, 7), v = randn(size_t(cap) * hkv * d, 8);
  const std::vector<float> q = randn(size_t(hq) * d, 9);
  const double scale = 1.0 / std::sqrt(double(d));
  CacheOptions o;
  o.capacity = cap;
  GhostCache c(k.data(), v.data(), n0, hkv, d, o);
  EXPECT_EQ(c.n(), n0);
  EXPECT_EQ(c.capacity(), cap);
  int64_t n = n0;
  std::vector<float> out(size_t(hq) * d), out_d(size_t(hq) * d), ref_d(size_t(hq) * d);
  std::vector<Certificate> cert(static_cast<size_t>(hq));
  auto check_step = [&](const char* when) {
    SCOPED_TRACE(std::string(when) + ", n " + std::to_string(n));
    c.decode(q.data(), hq, scale, out.data(), cert.data());
    for (int h = 0; h < hq; ++h) {
      const std::vector<double> ex = exact_head(k, v, n, hkv, d, h / (hq / hkv), q.data() + size_t(h) * d, scale);
      double e2 = 0, x2 = 0;
      for (int j = 0; j < d; ++j) {
        e2 += (double(out[size_t(h) * d + j]) - ex[size_t(j)]) * (double(out[size_t(h) * d + j]) - ex[size_t(j)]);
        x2 += ex[size_t(j)] * ex[size_t(j)];
      }
      EXPECT_EQ(cert[size_t(h)].flags, 0u) << "head " << h;
      EXPECT_LE(cert[size_t(h)].mass_bound, o.delta * (1 + 1e-9)) << "head " << h;
      EXPECT_LE(cert[size_t(h)].n_attended, n) << "head " << h;
      EXPECT_LE(std::sqrt(e2), cert[size_t(h)].out_err_bound + 1e-4 * std::sqrt(x2)) << "head " << h;
    }
    c.decode(q.data(), hq, scale, out_d.data(), cert.data(), true);
    GhostCache whole(k.data(), v.data(), n, hkv, d);
    whole.decode(q.data(), hq, scale, ref_d.data(), cert.data(), true);
    EXPECT_EQ(std::memcmp(out_d.data(), ref_d.data(), out_d.size() * 4), 0) << "dense step differs from a fresh cache";
  };
  check_step("built");
  for (int64_t m : {1, 63, 64, 200}) {
    c.append(k.data() + size_t(n) * hkv * d, v.data() + size_t(n) * hkv * d, m);
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
