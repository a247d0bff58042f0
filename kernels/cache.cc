// GhostCache (cache.h): one sequence's paged bf16 KV cache and int8 / int4 / mixed witnesses on the device, built from
// host K and V with the CPU library, and a synchronous decode step on it.
#include "cache.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "ghostkv/basis.h"
#include "ghostkv/half.h"
#include "ghostkv/witness.h"
#include "pack.h"

namespace ghostkv::cuda {

namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("ghostkv cuda: GhostCache: ") + what + ": " + cudaGetErrorString(e));
}


// A device allocation freed with its owner
struct DevBuf {
  void* p = nullptr;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() { reset(); }
  void reset() {
    if (p) cudaFree(p);
    p = nullptr;
  }
  void alloc(size_t bytes, const char* what) { ck(cudaMalloc(&p, std::max<size_t>(bytes, 1)), what); }
  template <class T>
  void upload(const std::vector<T>& h, const char* what) {
    alloc(h.size() * sizeof(T), what);
    ck(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), what);
  }
};

}  // namespace

struct GhostCache::Impl {
  int64_t n = 0;
  int hkv = 0, d = 0, pages = 0;
  CacheOptions o;
  DecodeParams base;  // the cache's arrays and shapes; decode fills the rest
  DevBuf k, v, codes, meta, nu, table, seq, rot, mu, resid, kmax, q, out, cert, work;
  int64_t work_bytes = 0, q_heads = 0;
  int device = -1;  // current at construction: the device that holds the arrays
};

GhostCache::GhostCache(const float* k, const float* v, int64_t n, int n_head_kv, int d, CacheOptions o)
    : impl_(std::make_unique<Impl>()) {
  if (!k || !v) throw std::invalid_argument("ghostkv cuda: GhostCache: null keys or values");
  if (n < 1 || n > (int64_t(1) << 30) || n_head_kv < 1 || n_head_kv > 1024 || (d != 64 && d != 128))
    throw std::invalid_argument("ghostkv cuda: GhostCache: needs n in [1, 2^30], n_head_kv in [1, 1024] and d 64 or 128 (got n " +
                                std::to_string(n) + ", n_head_kv " + std::to_string(n_head_kv) + ", d " + std::to_string(d) + ")");
  if (o.bits != "8" && o.bits != "4" && o.bits != "mixed")
    throw std::invalid_argument("ghostkv cuda: GhostCache: bits must be 8, 4 or mixed (got '" + o.bits + "')");
  if (o.n_sink < 0 || o.n_recent < 0 || !(o.delta > 0 && o.delta < 1))
    throw std::invalid_argument("ghostkv cuda: GhostCache: needs n_sink, n_recent >= 0 and delta in (0, 1) (got " +
                                std::to_string(o.n_sink) + ", " + std::to_string(o.n_recent) + ", " + std::to_string(o.delta) + ")");
  const int64_t row = int64_t(n_head_kv) * d;
  for (int64_t i = 0; i < n * row; ++i)
    if (!std::isfinite(k[i]) || !std::isfinite(v[i]))
      throw std::invalid_argument("ghostkv cuda: GhostCache: " + std::string(std::isfinite(k[i]) ? "value " : "key ") +
                                  std::to_string(std::isfinite(k[i]) ? v[i] : k[i]) + " at token " + std::to_string(i / row) +
                                  ", KV head " + std::to_string(i % row / d) + ", component " + std::to_string(i % d) +
                                  " is not finite");
  int dev_count = 0;  // before the host work: a machine without a GPU learns it at once
  ck(cudaGetDeviceCount(&dev_count), "cudaGetDeviceCount");
  Impl& m = *impl_;
  m.n = n, m.hkv = n_head_kv, m.d = d, m.o = o;
  m.pages = int((n + kPage - 1) / kPage);
  const int bits = o.bits == "4" ? 4 : 8, n8 = o.bits == "mixed" ? 32 : -1;
  const int k8 = witness_k8(bits, n8, d);
  const BitSpec spec = parse_bits(o.bits == "mixed" ? "8x32,4" : o.bits, d);
  if (int((spec.total_bits() + 7) / 8) != witness_code_bytes(k8, d))
    throw std::logic_error("ghostkv cuda: GhostCache: witness " + o.bits + " is not a GPU layout");

  // the paged cache, page p at physical page p: [page, KV head, slot, d] bf16; keys and values as rounded there
  const size_t slots = size_t(m.pages) * n_head_kv * kPage * d;
  std::vector<uint16_t> kc(slots, 0), vc(slots, 0);
  std::vector<std::vector<float>> keys(static_cast<size_t>(n_head_kv)), vals(static_cast<size_t>(n_head_kv));
  for (int g = 0; g < n_head_kv; ++g) {
    keys[size_t(g)].resize(size_t(n) * d);
    vals[size_t(g)].resize(size_t(n) * d);
    for (int64_t t = 0; t < n; ++t) {
      const size_t dst = ((size_t(t / kPage) * n_head_kv + g) * kPage + size_t(t % kPage)) * d;
      for (int j = 0; j < d; ++j) {
        const uint16_t kb = f32_to_bf16(k[t * row + g * d + j]), vb = f32_to_bf16(v[t * row + g * d + j]);
        kc[dst + size_t(j)] = kb, vc[dst + size_t(j)] = vb;
        keys[size_t(g)][size_t(t) * d + size_t(j)] = bf16_to_f32(kb);
        vals[size_t(g)][size_t(t) * d + size_t(j)] = bf16_to_f32(vb);
      }
    }
  }
  // a bf16 value can round to ±inf from a finite float32 past 3.39e38
  for (size_t i = 0; i < slots; ++i)
    if ((kc[i] & 0x7f80u) == 0x7f80u || (vc[i] & 0x7f80u) == 0x7f80u)
      throw std::invalid_argument("ghostkv cuda: GhostCache: a key or value overflows bfloat16 (|x| > 3.39e38)");

  // the witnesses: a PCA basis per KV head, records in groups of one page, packed into the page layout
  std::vector<int32_t> table(static_cast<size_t>(m.pages));
  std::iota(table.begin(), table.end(), 0);
  std::vector<uint8_t> codes(size_t(m.pages) * n_head_kv * kPage * size_t(witness_code_bytes(k8, d)));
  std::vector<uint16_t> meta(size_t(m.pages) * n_head_kv * 2 * d);
  std::vector<uint8_t> box(size_t(m.pages) * n_head_kv * 2 * d);
  std::vector<float> nu(size_t(m.pages) * n_head_kv), rot(size_t(n_head_kv) * d * d), mu(size_t(n_head_kv) * d),
      resid(static_cast<size_t>(n_head_kv)), kmax(static_cast<size_t>(n_head_kv));
  for (int g = 0; g < n_head_kv; ++g) {
    const std::vector<float>& kf = keys[size_t(g)];
    const Basis basis = fit_basis(BasisKind::pca, kf.data(), n, d, d, d, 7);
    const QuantRecords rec = build_quant(basis, spec, kPage, n, kf.data(), vals[size_t(g)].data(), n, d);
    if (pack_quant_pages(rec, n, table.data(), m.pages, n_head_kv, g, codes.data(), meta.data(), box.data(), nu.data()) != k8)
      throw std::logic_error("ghostkv cuda: GhostCache: the records' widths are not the layout of " + o.bits);
    std::copy(basis.vecs.begin(), basis.vecs.end(), rot.begin() + ptrdiff_t(g) * d * d);
    std::copy(basis.mu.begin(), basis.mu.end(), mu.begin() + ptrdiff_t(g) * d);
    double km = 0;
    for (int64_t t = 0; t < n; ++t) {
      double s = 0;
      for (int j = 0; j < d; ++j) s += double(kf[size_t(t) * d + size_t(j)]) * kf[size_t(t) * d + size_t(j)];
      km = std::max(km, std::sqrt(s));
    }
    resid[size_t(g)] = f32_round_up(rec.resid_max);  // the device's bounds are float32: both rounded up
    kmax[size_t(g)] = f32_round_up(km * (1 + 1e-12));
  }
  const std::vector<int32_t> seq = {int32_t(n)};
  check_page_table(table.data(), seq.data(), 1, m.pages, int(n), m.pages);

  ck(cudaGetDevice(&m.device), "cudaGetDevice");
  m.k.upload(kc, "K"), m.v.upload(vc, "V"), m.codes.upload(codes, "codes"), m.meta.upload(meta, "meta");
  m.nu.upload(nu, "nu_max"), m.table.upload(table, "page table"), m.seq.upload(seq, "seq_len");
  m.rot.upload(rot, "rotation"), m.mu.upload(mu, "mu"), m.resid.upload(resid, "resid_max"), m.kmax.upload(kmax, "k_norm_max");

  DecodeParams& p = m.base;
  p.batch = 1, p.n_head_kv = n_head_kv, p.d = d, p.bits = bits, p.n8 = n8;
  p.max_pages = m.pages, p.max_seq = int(n);
  p.n_sink = o.n_sink, p.n_recent = o.n_recent, p.delta = o.delta;
  p.k_cache = static_cast<const uint16_t*>(m.k.p), p.v_cache = static_cast<const uint16_t*>(m.v.p);
  p.codes = static_cast<const uint8_t*>(m.codes.p), p.meta = static_cast<const uint16_t*>(m.meta.p);
  p.nu_max = static_cast<const float*>(m.nu.p);
  p.page_table = static_cast<const int32_t*>(m.table.p), p.seq_len = static_cast<const int32_t*>(m.seq.p);
  p.rot = static_cast<const float*>(m.rot.p), p.mu = static_cast<const float*>(m.mu.p);
  p.resid_max = static_cast<const float*>(m.resid.p), p.k_norm_max = static_cast<const float*>(m.kmax.p);
}

GhostCache::~GhostCache() = default;

void GhostCache::decode(const float* q, int n_head_q, double scale, float* out, Certificate* cert, bool dense) {
  Impl& m = *impl_;
  if (!q || !out || !cert) throw std::invalid_argument("ghostkv cuda: GhostCache::decode: null q, out or cert");
  if (n_head_q < m.hkv || n_head_q % m.hkv != 0 || n_head_q / m.hkv > 4 || !(scale > 0) || !std::isfinite(scale))
    throw std::invalid_argument("ghostkv cuda: GhostCache::decode: needs n_head_q a multiple of n_head_kv " +
                                std::to_string(m.hkv) + " with at most 4 query heads per KV head and a finite scale > 0 (got " +
                                std::to_string(n_head_q) + ", " + std::to_string(scale) + ")");
  int dev = -1;
  ck(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev != m.device)
    throw std::invalid_argument("ghostkv cuda: GhostCache::decode: the cache is on device " + std::to_string(m.device) +
                                ", the current device is " + std::to_string(dev));
  DecodeParams p = m.base;
  p.n_head_q = n_head_q;
  p.scale = float(scale), p.scale64 = scale;
  p.splits = default_splits(1, m.hkv);
  const size_t qn = size_t(n_head_q) * m.d;
  if (n_head_q != m.q_heads) {  // buffers for this many query heads (a new count reallocates)
    m.q.reset(), m.out.reset(), m.cert.reset();
    m.q_heads = 0;
    m.q.alloc(qn * 4, "q"), m.out.alloc(qn * 4, "out"), m.cert.alloc(size_t(n_head_q) * sizeof(Certificate), "certificates");
    m.q_heads = n_head_q;
  }
  p.q = static_cast<const float*>(m.q.p), p.out = static_cast<float*>(m.out.p);
  p.cert = static_cast<Certificate*>(m.cert.p);
  const int64_t wb = workspace_bytes(p);
  if (wb > m.work_bytes) {
    m.work.reset();
    m.work_bytes = 0;
    m.work.alloc(size_t(wb), "workspace");
    m.work_bytes = wb;
  }
  p.work = m.work.p;
  ck(cudaMemcpy(m.q.p, q, qn * 4, cudaMemcpyHostToDevice), "q");
  if (dense) dense_decode(p, nullptr);
  else ghost_decode(p, nullptr);
  ck(cudaDeviceSynchronize(), dense ? "dense_decode" : "ghost_decode");
  ck(cudaMemcpy(out, m.out.p, qn * 4, cudaMemcpyDeviceToHost), "out");
  ck(cudaMemcpy(cert, m.cert.p, size_t(n_head_q) * sizeof(Certificate), cudaMemcpyDeviceToHost), "certificates");
}

int64_t GhostCache::n() const { return impl_->n; }
int GhostCache::n_head_kv() const { return impl_->hkv; }
int GhostCache::d() const { return impl_->d; }
const CacheOptions& GhostCache::options() const { return impl_->o; }

}  // namespace ghostkv::cuda
