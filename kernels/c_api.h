#ifndef GHOSTKV_CUDA_C_API_H
#define GHOSTKV_CUDA_C_API_H
/* C interface to GhostCache (cache.h): one sequence's KV cache on the GPU with its witnesses, and a decode step on it.
 * Built as the shared library libghostkv_gpu (loaded by the Python module ghostkv_gpu through ctypes). Every call
 * returns 0 on success, -2 for a bad argument (shapes, options, non-finite keys or values) or -1 for any other
 * failure (CUDA, memory), with a message naming the values or the call in err (err_len bytes, always terminated);
 * nothing is left half built. */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gkv_cache gkv_cache;

/* Per query head, as Certificate (decode.h): mass_bound, out_err_bound, m_E, z_low, budget, m_l, theta, nu_e,
 * n_attended, flags. */
#define GKV_CERT_FIELDS 10

/* k, v: [n, n_head_kv, d] float32 (host); bits "8", "4" or "mixed" (the quantised witness) or "lowrank" (the rank-16
 * sketch). On success *out holds the cache. */
int gkv_cache_new(const float* k, const float* v, int64_t n, int n_head_kv, int d, const char* bits, int n_sink,
                  int n_recent, double delta, gkv_cache** out, char* err, int err_len);
/* As gkv_cache_new, with room for capacity tokens (0: n), which gkv_cache_append fills. */
int gkv_cache_new_capacity(const float* k, const float* v, int64_t n, int n_head_kv, int d, const char* bits, int n_sink,
                           int n_recent, double delta, int64_t capacity, gkv_cache** out, char* err, int err_len);
/* As gkv_cache_new_capacity, and anchors != 0: page anchors (CacheOptions::anchors: whole pages eliminated from a box
 * of their codes, or of their sketches, before the scan reads them). */
int gkv_cache_new_ex(const float* k, const float* v, int64_t n, int n_head_kv, int d, const char* bits, int n_sink,
                     int n_recent, double delta, int64_t capacity, int anchors, gkv_cache** out, char* err, int err_len);
/* Appends m tokens: k, v [m, n_head_kv, d] float32 (host), within the capacity (GhostCache::append). */
int gkv_cache_append(gkv_cache* c, const float* k, const float* v, int64_t m, char* err, int err_len);
/* The tokens the cache holds; -1 for a null cache. */
int64_t gkv_cache_len(const gkv_cache* c);
/* One step: q [n_head_q, d] float32 (host), scores scale·q·k; out [n_head_q, d]; cert [n_head_q, GKV_CERT_FIELDS]
 * doubles. dense != 0: every token attended (exact certificates). */
int gkv_cache_decode(gkv_cache* c, const float* q, int n_head_q, double scale, int dense, float* out, double* cert,
                     char* err, int err_len);
/* The last decode's detail (GhostCache::last_step): kept [n_head_kv, n] bytes, 1 where the token was attended (the hot
 * tokens and the survivors); bound [n_head_q, n] doubles, an upper bound on each head's score scale·q·k (+inf for the
 * hot tokens). n and n_head_q must be the cache's length and the last decode's query heads. -2 when they differ, or
 * when the last decode was not a ghost one, or tokens were appended or the basis refitted since. */
int gkv_cache_last_step(const gkv_cache* c, int64_t n, int n_head_q, uint8_t* kept, double* bound, char* err, int err_len);
/* Refits the basis on every token held and rebuilds every page's records (GhostCache::refit). */
int gkv_cache_refit(gkv_cache* c, char* err, int err_len);
void gkv_cache_free(gkv_cache* c);

#ifdef __cplusplus
}
#endif
#endif
