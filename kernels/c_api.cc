// The C interface of c_api.h over GhostCache (cache.h): exceptions become -1 and a message.
#include "c_api.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache.h"

struct gkv_cache {
  ghostkv::cuda::GhostCache cache;
};

namespace {

int fail(char* err, int err_len, const char* what, int rc = -1) {
  if (err && err_len > 0) std::snprintf(err, size_t(err_len), "%s", what);
  return rc;
}

}  // namespace

extern "C" int gkv_cache_new_ex(const float* k, const float* v, int64_t n, int n_head_kv, int d, const char* bits,
                                int n_sink, int n_recent, double delta, int64_t capacity, int anchors, gkv_cache** out,
                                char* err, int err_len) {
  if (!out) return fail(err, err_len, "ghostkv cuda: gkv_cache_new: null out");
  *out = nullptr;
  try {
    ghostkv::cuda::CacheOptions o;
    o.bits = bits ? bits : "";
    o.n_sink = n_sink, o.n_recent = n_recent, o.delta = delta, o.capacity = capacity, o.anchors = anchors != 0;
    *out = new gkv_cache{ghostkv::cuda::GhostCache(k, v, n, n_head_kv, d, o)};
    return 0;
  } catch (const std::invalid_argument& e) {
    return fail(err, err_len, e.what(), -2);
  } catch (const std::exception& e) {
    return fail(err, err_len, e.what());
  }
}

extern "C" int gkv_cache_new_capacity(const float* k, const float* v, int64_t n, int n_head_kv, int d, const char* bits,
                                      int n_sink, int n_recent, double delta, int64_t capacity, gkv_cache** out, char* err,
                                      int err_len) {
  return gkv_cache_new_ex(k, v, n, n_head_kv, d, bits, n_sink, n_recent, delta, capacity, 0, out, err, err_len);
}

extern "C" int gkv_cache_new(const float* k, const float* v, int64_t n, int n_head_kv, int d, const char* bits, int n_sink,
                             int n_recent, double delta, gkv_cache** out, char* err, int err_len) {
  return gkv_cache_new_capacity(k, v, n, n_head_kv, d, bits, n_sink, n_recent, delta, 0, out, err, err_len);
}

extern "C" int gkv_cache_append(gkv_cache* c, const float* k, const float* v, int64_t m, char* err, int err_len) {
  if (!c) return fail(err, err_len, "ghostkv cuda: gkv_cache_append: null cache");
  try {
    c->cache.append(k, v, m);
    return 0;
  } catch (const std::invalid_argument& e) {
    return fail(err, err_len, e.what(), -2);
  } catch (const std::exception& e) {
    return fail(err, err_len, e.what());
  }
}

extern "C" int64_t gkv_cache_len(const gkv_cache* c) { return c ? c->cache.n() : -1; }

extern "C" int gkv_cache_decode(gkv_cache* c, const float* q, int n_head_q, double scale, int dense, float* out,
                                double* cert, char* err, int err_len) {
  if (!c || !cert) return fail(err, err_len, "ghostkv cuda: gkv_cache_decode: null cache or cert");
  try {
    std::vector<ghostkv::cuda::Certificate> cs(size_t(n_head_q > 0 ? n_head_q : 0));
    c->cache.decode(q, n_head_q, scale, out, cs.data(), dense != 0);
    for (size_t i = 0; i < cs.size(); ++i) {
      const ghostkv::cuda::Certificate& x = cs[i];
      double* r = cert + i * GKV_CERT_FIELDS;
      r[0] = x.mass_bound, r[1] = x.out_err_bound, r[2] = x.m_E, r[3] = x.z_low, r[4] = x.budget;
      r[5] = x.m_l, r[6] = x.theta, r[7] = x.nu_e, r[8] = x.n_attended, r[9] = x.flags;
    }
    return 0;
  } catch (const std::invalid_argument& e) {
    return fail(err, err_len, e.what(), -2);
  } catch (const std::exception& e) {
    return fail(err, err_len, e.what());
  }
}

extern "C" int gkv_cache_last_step(const gkv_cache* c, int64_t n, int n_head_q, uint8_t* kept, double* bound, char* err,
                                   int err_len) {
  if (!c || !kept || !bound) return fail(err, err_len, "ghostkv cuda: gkv_cache_last_step: null cache, kept or bound");
  try {
    ghostkv::cuda::StepDetail d;
    c->cache.last_step(&d);
    if (d.n != n || d.n_head_q != n_head_q)
      return fail(err, err_len,
                  ("ghostkv cuda: gkv_cache_last_step: the last step saw " + std::to_string(d.n) + " tokens and " +
                   std::to_string(d.n_head_q) + " query heads, the arrays are for " + std::to_string(n) + " and " +
                   std::to_string(n_head_q))
                      .c_str(),
                  -2);
    std::copy(d.kept.begin(), d.kept.end(), kept);
    std::copy(d.bound.begin(), d.bound.end(), bound);
    return 0;
  } catch (const std::invalid_argument& e) {
    return fail(err, err_len, e.what(), -2);
  } catch (const std::logic_error& e) {
    return fail(err, err_len, e.what(), -2);
  } catch (const std::exception& e) {
    return fail(err, err_len, e.what());
  }
}

extern "C" int gkv_cache_refit(gkv_cache* c, char* err, int err_len) {
  if (!c) return fail(err, err_len, "ghostkv cuda: gkv_cache_refit: null cache");
  try {
    c->cache.refit();
    return 0;
  } catch (const std::invalid_argument& e) {
    return fail(err, err_len, e.what(), -2);
  } catch (const std::exception& e) {
    return fail(err, err_len, e.what());
  }
}

extern "C" void gkv_cache_free(gkv_cache* c) { delete c; }
