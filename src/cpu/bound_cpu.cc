// float32 token-bound scans. The slack that makes them sound is precomputed per query
// (prepare_*_query, docs/math.md §4); the scans themselves are the vectorised kernels of fast.cc
// (one head here; the multi-head entry points read each record once for a whole GQA group).
// This file must never be compiled with fast-math.
#include "ghostkv/bound.h"
#include "ghostkv/cpu/fast.h"

namespace ghostkv::cpu {

void lowrank_bounds(const LowRankRecords& rec, const LowRankQuery& pq, int64_t t0, int64_t t1, double* ub) {
  const LowRankQuery* p = &pq;
  lowrank_bounds_multi(rec, &p, 1, t0, t1, &ub);
}

void quant_bounds(const QuantRecords& rec, const QuantQuery& pq, int64_t t0, int64_t t1, double* ub) {
  const QuantQuery* p = &pq;
  quant_bounds_multi(rec, &p, 1, t0, t1, &ub);
}

}  // namespace ghostkv::cpu
