// GhostCache (cache.h) and its C interface (c_api.h) on the host: the refusals that come before any CUDA call, and
// the CUDA error where the machine has no GPU. The decode itself runs on a GPU: scripts/gpu_python_check.py.
#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <cmath>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "c_api.h"
#include "cache.h"

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
