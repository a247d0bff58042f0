// GhostCache (cache.h): one sequence's paged bf16 KV cache and its witnesses (int8 / int4 / mixed codes, or the rank-16
// low-rank sketch) on the device, built from host K and V with the CPU library, and a synchronous decode step on it.
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
  int64_t n = 0, cap = 0;
  int hkv = 0, d = 0, cap_pages = 0, k8 = 0, bits = 8, n8 = -1;
  bool lowrank = false;  // bits "lowrank": the sketch (ẑ, ρ, e) instead of the codes and meta (int8 records give ν and
                         // the residual bound, and are not copied)
  CacheOptions o;
  BitSpec spec;
  std::vector<Basis> basis;           // per KV head, fitted at construction
  std::vector<float> tail_k, tail_v;  // [hkv][kPage][d]: the last page's tokens while it is not full (bf16 values)
  std::vector<float> resid_h, kmax_h;  // the device's resid_max and k_norm_max
  DecodeParams base;  // the cache's arrays and shapes; decode fills the rest
  DevBuf k, v, codes, meta, nu, box, table, seq, rot, mu, resid, kmax, q, out, cert, work;
  DevBuf sketch, sk_rho, sk_err;  // the low-rank witness
  int64_t work_bytes = 0, q_heads = 0;
  int device = -1;  // current at construction: the device that holds the arrays
  bool broken = false;  // a CUDA failure part way through an append: the device arrays may disagree
  // the last decode, for last_step: 0 none yet, 1 ghost, 2 dense, 3 an append after a decode; its parameters (the
  // workspace views) and its tokens
  int last = 0;
  DecodeParams last_p;

  void check_device(const char* who) const;
  void add_tokens(const float* k, const float* v, int64_t m);
};

namespace {

// every key and value of m tokens [m, hkv, d] finite, named by token t0 + i
void check_finite(const float* k, const float* v, int64_t m, int hkv, int d, int64_t t0, const char* who) {
  const int64_t row = int64_t(hkv) * d;
  for (int64_t i = 0; i < m * row; ++i)
    if (!std::isfinite(k[i]) || !std::isfinite(v[i]))
      throw std::invalid_argument(std::string("ghostkv cuda: ") + who + ": " + (std::isfinite(k[i]) ? "value " : "key ") +
                                  std::to_string(std::isfinite(k[i]) ? v[i] : k[i]) + " at token " +
                                  std::to_string(t0 + i / row) + ", KV head " + std::to_string(i % row / d) +
                                  ", component " + std::to_string(i % d) + " is not finite");
}

// x rounded to bf16 as the device holds it; a finite float32 past 3.39e38 rounds to ±inf there
uint16_t bf16_checked(float x, const char* who) {
  const uint16_t b = f32_to_bf16(x);
  if ((b & 0x7f80u) == 0x7f80u)
    throw std::invalid_argument(std::string("ghostkv cuda: ") + who + ": a key or value overflows bfloat16 (" +
                                std::to_string(x) + ", |x| > 3.39e38)");
  return b;
}

// A PCA basis per KV head on the bf16 values of keys k [n, hkv, d] (seed 7, so the same keys give the same basis), and
// the device's rotation [hkv, d, d] and μ [hkv, d]
std::vector<Basis> fit_bases(const float* k, int64_t n, int hkv, int d, std::vector<float>* rot, std::vector<float>* mu) {
  const int64_t row = int64_t(hkv) * d;
  std::vector<Basis> out;
  rot->assign(size_t(hkv) * d * d, 0.0f), mu->assign(size_t(hkv) * d, 0.0f);
  std::vector<float> kf(size_t(n) * d);
  for (int g = 0; g < hkv; ++g) {
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < d; ++j) kf[size_t(t) * d + size_t(j)] = bf16_to_f32(bf16_checked(k[t * row + g * d + j], "GhostCache"));
    out.push_back(fit_basis(BasisKind::pca, kf.data(), n, d, d, d, 7));
    std::copy(out.back().vecs.begin(), out.back().vecs.end(), rot->begin() + ptrdiff_t(g) * d * d);
    std::copy(out.back().mu.begin(), out.back().mu.end(), mu->begin() + ptrdiff_t(g) * d);
  }
  return out;
}

}  // namespace

void GhostCache::Impl::check_device(const char* who) const {
  if (broken)
    throw std::runtime_error(std::string("ghostkv cuda: ") + who +
                             ": an earlier append failed part way (a CUDA error); the cache is unusable");
  int dev = -1;
  ck(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev != device)
    throw std::invalid_argument(std::string("ghostkv cuda: ") + who + ": the cache is on device " + std::to_string(device) +
                                ", the current device is " + std::to_string(dev));
}

// Tokens n..n+m−1 (k, v: [m, hkv, d], checked finite): the pages p0 = n / kPage .. p1 they touch are staged on the host
// (K and V rows in bf16; per KV head the page's records, build_quant over all of the page's tokens with the KV head's
// basis, packed by pack_quant_pages, or for the low-rank witness its sketch by pack_lowrank_pages, the quantised
// records then giving only ν and the residual bound) and copied to the device over the same pages; then seq_len,
// resid_max and k_norm_max. Nothing on the host changes before every copy is done.
void GhostCache::Impl::add_tokens(const float* kin, const float* vin, int64_t m) {
  const int64_t row = int64_t(hkv) * d, n1 = n + m;
  const int64_t p0 = n / kPage, p1 = (n1 - 1) / kPage, np = p1 - p0 + 1;
  const int cb = witness_code_bytes(k8, d);
  const size_t kv_page = size_t(hkv) * kPage * d, code_page = size_t(hkv) * kPage * size_t(cb), meta_page = size_t(hkv) * 2 * d;
  std::vector<uint16_t> kc(size_t(np) * kv_page, 0), vc(size_t(np) * kv_page, 0);
  const size_t box_page = size_t(hkv) * 2 * d;
  // the quantised records' pages (for the low-rank witness one page of scratch, never copied), then the low-rank
  // witness's pages (none for the quantised witness)
  const int64_t nq = lowrank ? 1 : np;
  std::vector<uint8_t> hcodes(size_t(nq) * code_page, 0), hbox(size_t(nq) * box_page, 0);
  std::vector<uint16_t> hmeta(size_t(nq) * meta_page, 0);
  const size_t sk_page = size_t(hkv) * kPage * kSketchRank, rho_page = size_t(hkv) * kPage, lrbox_page = size_t(hkv) * kLrBoxHalfs;
  const int64_t nl = lowrank ? np : 0;
  std::vector<uint16_t> hsk(size_t(nl) * sk_page, 0), hrho(size_t(nl) * rho_page, 0), herr(hrho.size(), 0);
  std::vector<uint16_t> hlrbox(size_t(nl) * lrbox_page, 0);
  std::vector<float> hnu(size_t(np) * hkv, 0.0f), resid_new = resid_h, kmax_new = kmax_h;
  std::vector<float> tail_k_new(tail_k.size()), tail_v_new(tail_v.size());
  std::vector<float> pk(size_t(kPage) * d), pv(size_t(kPage) * d);
  const int32_t one_page = 0;
  for (int64_t pi = 0; pi < np; ++pi) {
    const int64_t ta = (p0 + pi) * kPage, tb = std::min<int64_t>(ta + kPage, n1);
    const int cnt = int(tb - ta);
    for (int g = 0; g < hkv; ++g) {
      double km = 0;
      for (int64_t t = ta; t < tb; ++t) {
        const int64_t s = t - ta;
        float* kd = pk.data() + s * d;
        float* vd = pv.data() + s * d;
        uint16_t* kdst = kc.data() + size_t(pi) * kv_page + (size_t(g) * kPage + size_t(s)) * d;
        uint16_t* vdst = vc.data() + size_t(pi) * kv_page + (size_t(g) * kPage + size_t(s)) * d;
        if (t < n) {  // held already: the last page's tokens, kept as the device has them
          const float* tk = tail_k.data() + (size_t(g) * kPage + size_t(s)) * d;
          const float* tv = tail_v.data() + (size_t(g) * kPage + size_t(s)) * d;
          for (int j = 0; j < d; ++j) kd[j] = tk[j], vd[j] = tv[j], kdst[j] = f32_to_bf16(tk[j]), vdst[j] = f32_to_bf16(tv[j]);
        } else {
          const float* sk = kin + (t - n) * row + int64_t(g) * d;
          const float* sv = vin + (t - n) * row + int64_t(g) * d;
          for (int j = 0; j < d; ++j) {
            kdst[j] = bf16_checked(sk[j], "GhostCache"), vdst[j] = bf16_checked(sv[j], "GhostCache");
            kd[j] = bf16_to_f32(kdst[j]), vd[j] = bf16_to_f32(vdst[j]);
          }
        }
        double s2 = 0;
        for (int j = 0; j < d; ++j) s2 += double(kd[j]) * kd[j];
        km = std::max(km, std::sqrt(s2));
      }
      const QuantRecords rec = build_quant(basis[size_t(g)], spec, kPage, cnt, pk.data(), pv.data(), cnt, d);
      const size_t qi = lowrank ? 0 : size_t(pi);
      if (pack_quant_pages(rec, cnt, &one_page, 1, hkv, g, hcodes.data() + qi * code_page, hmeta.data() + qi * meta_page,
                           hbox.data() + qi * box_page, hnu.data() + size_t(pi) * hkv) != k8)
        throw std::logic_error("ghostkv cuda: GhostCache: the records' widths are not the layout of " + o.bits);
      if (lowrank)
        pack_lowrank_pages(basis[size_t(g)], pk.data(), cnt, &one_page, 1, hkv, g, hsk.data() + size_t(pi) * sk_page,
                           hrho.data() + size_t(pi) * rho_page, herr.data() + size_t(pi) * rho_page,
                           o.anchors ? hlrbox.data() + size_t(pi) * lrbox_page : nullptr);
      // the device's bounds are float32: both rounded up
      resid_new[size_t(g)] = std::max(resid_new[size_t(g)], f32_round_up(rec.resid_max));
      kmax_new[size_t(g)] = std::max(kmax_new[size_t(g)], f32_round_up(km * (1 + 1e-12)));
      if (pi == np - 1 && cnt < kPage) {  // the new last page is not full: its tokens for the next append
        std::copy(pk.begin(), pk.begin() + ptrdiff_t(cnt) * d, tail_k_new.begin() + ptrdiff_t(g) * kPage * d);
        std::copy(pv.begin(), pv.begin() + ptrdiff_t(cnt) * d, tail_v_new.begin() + ptrdiff_t(g) * kPage * d);
      }
    }
  }
  const int32_t seq_n = int32_t(n1);
  try {
    auto put = [](DevBuf& b, size_t off, const void* src, size_t bytes, const char* what) {
      ck(cudaMemcpy(static_cast<char*>(b.p) + off, src, bytes, cudaMemcpyHostToDevice), what);
    };
    put(k, size_t(p0) * kv_page * 2, kc.data(), kc.size() * 2, "K");
    put(v, size_t(p0) * kv_page * 2, vc.data(), vc.size() * 2, "V");
    if (lowrank) {
      put(sketch, size_t(p0) * sk_page * 2, hsk.data(), hsk.size() * 2, "sketch");
      put(sk_rho, size_t(p0) * rho_page * 2, hrho.data(), hrho.size() * 2, "sk_rho");
      put(sk_err, size_t(p0) * rho_page * 2, herr.data(), herr.size() * 2, "sk_err");
      if (o.anchors) put(box, size_t(p0) * lrbox_page * 2, hlrbox.data(), hlrbox.size() * 2, "page anchors");
    } else {
      put(codes, size_t(p0) * code_page, hcodes.data(), hcodes.size(), "codes");
      put(meta, size_t(p0) * meta_page * 2, hmeta.data(), hmeta.size() * 2, "meta");
      if (o.anchors) put(box, size_t(p0) * box_page, hbox.data(), hbox.size(), "page anchors");
    }
    put(nu, size_t(p0) * hkv * 4, hnu.data(), hnu.size() * 4, "nu_max");
    put(resid, 0, resid_new.data(), resid_new.size() * 4, "resid_max");
    put(kmax, 0, kmax_new.data(), kmax_new.size() * 4, "k_norm_max");
    put(seq, 0, &seq_n, 4, "seq_len");
  } catch (...) {
    broken = true;
    throw;
  }
  n = n1;
  tail_k.swap(tail_k_new), tail_v.swap(tail_v_new);
  resid_h.swap(resid_new), kmax_h.swap(kmax_new);
}

GhostCache::GhostCache(const float* k, const float* v, int64_t n, int n_head_kv, int d, CacheOptions o)
    : impl_(std::make_unique<Impl>()) {
  if (!k || !v) throw std::invalid_argument("ghostkv cuda: GhostCache: null keys or values");
  if (n < 1 || n > (int64_t(1) << 30) || n_head_kv < 1 || n_head_kv > 1024 || (d != 64 && d != 128))
    throw std::invalid_argument("ghostkv cuda: GhostCache: needs n in [1, 2^30], n_head_kv in [1, 1024] and d 64 or 128 (got n " +
                                std::to_string(n) + ", n_head_kv " + std::to_string(n_head_kv) + ", d " + std::to_string(d) + ")");
  if (o.bits != "8" && o.bits != "4" && o.bits != "mixed" && o.bits != "lowrank")
    throw std::invalid_argument("ghostkv cuda: GhostCache: bits must be 8, 4, mixed or lowrank (got '" + o.bits + "')");
  if (o.n_sink < 0 || o.n_recent < 0 || !(o.delta > 0 && o.delta < 1))
    throw std::invalid_argument("ghostkv cuda: GhostCache: needs n_sink, n_recent >= 0 and delta in (0, 1) (got " +
                                std::to_string(o.n_sink) + ", " + std::to_string(o.n_recent) + ", " + std::to_string(o.delta) + ")");
  const int64_t cap = o.capacity == 0 ? n : o.capacity;
  if (cap < n || cap > (int64_t(1) << 30))
    throw std::invalid_argument("ghostkv cuda: GhostCache: capacity " + std::to_string(o.capacity) + " must be 0 or in [n " +
                                std::to_string(n) + ", 2^30]");
  check_finite(k, v, n, n_head_kv, d, 0, "GhostCache");
  int dev_count = 0;  // before the host work: a machine without a GPU learns it at once
  ck(cudaGetDeviceCount(&dev_count), "cudaGetDeviceCount");
  Impl& m = *impl_;
  m.hkv = n_head_kv, m.d = d, m.o = o, m.cap = cap;
  m.o.capacity = cap;
  m.cap_pages = int((cap + kPage - 1) / kPage);
  m.lowrank = o.bits == "lowrank";
  m.bits = o.bits == "4" ? 4 : 8, m.n8 = o.bits == "mixed" ? 32 : -1;
  m.k8 = witness_k8(m.bits, m.n8, d);
  m.spec = parse_bits(o.bits == "mixed" ? "8x32,4" : m.lowrank ? "8" : o.bits, d);
  if (int((m.spec.total_bits() + 7) / 8) != witness_code_bytes(m.k8, d))
    throw std::logic_error("ghostkv cuda: GhostCache: witness " + o.bits + " is not a GPU layout");

  // a PCA basis per KV head on its keys as the device holds them (bf16)
  std::vector<float> rot, mu;
  m.basis = fit_bases(k, n, n_head_kv, d, &rot, &mu);
  m.tail_k.assign(size_t(n_head_kv) * kPage * d, 0.0f), m.tail_v.assign(m.tail_k.size(), 0.0f);
  m.resid_h.assign(size_t(n_head_kv), 0.0f), m.kmax_h.assign(size_t(n_head_kv), 0.0f);
  std::vector<int32_t> table(static_cast<size_t>(m.cap_pages));
  std::iota(table.begin(), table.end(), 0);
  const std::vector<int32_t> seq = {int32_t(cap)};
  check_page_table(table.data(), seq.data(), 1, m.cap_pages, int(cap), m.cap_pages);

  // the arrays at capacity (zeroed), then the n tokens' pages as an append onto an empty cache
  ck(cudaGetDevice(&m.device), "cudaGetDevice");
  const size_t pages = size_t(m.cap_pages);
  auto zeros = [](DevBuf& b, size_t bytes, const char* what) {
    b.alloc(bytes, what);
    ck(cudaMemset(b.p, 0, std::max<size_t>(bytes, 1)), what);
  };
  zeros(m.k, pages * n_head_kv * kPage * d * 2, "K"), zeros(m.v, pages * n_head_kv * kPage * d * 2, "V");
  if (m.lowrank) {
    zeros(m.sketch, pages * n_head_kv * kPage * kSketchRank * 2, "sketch");
    zeros(m.sk_rho, pages * n_head_kv * kPage * 2, "sk_rho"), zeros(m.sk_err, pages * n_head_kv * kPage * 2, "sk_err");
    if (o.anchors) zeros(m.box, pages * n_head_kv * kLrBoxHalfs * 2, "page anchors");
  } else {
    zeros(m.codes, pages * n_head_kv * kPage * size_t(witness_code_bytes(m.k8, d)), "codes");
    zeros(m.meta, pages * n_head_kv * 2 * d * 2, "meta");
    if (o.anchors) zeros(m.box, pages * n_head_kv * 2 * d, "page anchors");
  }
  zeros(m.nu, pages * n_head_kv * 4, "nu_max");
  zeros(m.resid, size_t(n_head_kv) * 4, "resid_max"), zeros(m.kmax, size_t(n_head_kv) * 4, "k_norm_max");
  zeros(m.seq, 4, "seq_len");
  m.table.upload(table, "page table"), m.rot.upload(rot, "rotation"), m.mu.upload(mu, "mu");
  m.add_tokens(k, v, n);

  DecodeParams& p = m.base;
  p.batch = 1, p.n_head_kv = n_head_kv, p.d = d, p.bits = m.bits, p.n8 = m.n8;
  p.max_pages = m.cap_pages, p.max_seq = int(cap);
  p.n_sink = o.n_sink, p.n_recent = o.n_recent, p.delta = o.delta;
  p.k_cache = static_cast<const uint16_t*>(m.k.p), p.v_cache = static_cast<const uint16_t*>(m.v.p);
  p.codes = static_cast<const uint8_t*>(m.codes.p), p.meta = static_cast<const uint16_t*>(m.meta.p);  // null: low-rank
  p.rank = m.lowrank ? kSketchRank : 0;
  p.sketch = static_cast<const uint16_t*>(m.sketch.p), p.sk_rho = static_cast<const uint16_t*>(m.sk_rho.p);
  p.sk_err = static_cast<const uint16_t*>(m.sk_err.p);
  p.nu_max = static_cast<const float*>(m.nu.p);
  p.box = o.anchors ? static_cast<const uint8_t*>(m.box.p) : nullptr;
  p.page_table = static_cast<const int32_t*>(m.table.p), p.seq_len = static_cast<const int32_t*>(m.seq.p);
  p.rot = static_cast<const float*>(m.rot.p), p.mu = static_cast<const float*>(m.mu.p);
  p.resid_max = static_cast<const float*>(m.resid.p), p.k_norm_max = static_cast<const float*>(m.kmax.p);
}

void GhostCache::append(const float* k, const float* v, int64_t m_new) {
  Impl& m = *impl_;
  if (!k || !v) throw std::invalid_argument("ghostkv cuda: GhostCache::append: null keys or values");
  if (m_new < 1 || m_new > m.cap - m.n)
    throw std::invalid_argument("ghostkv cuda: GhostCache::append: " + std::to_string(m_new) + " tokens asked, the cache holds " +
                                std::to_string(m.n) + " of its capacity " + std::to_string(m.cap) + " (room for " +
                                std::to_string(m.cap - m.n) + ")");
  check_finite(k, v, m_new, m.hkv, m.d, m.n, "GhostCache::append");
  m.check_device("GhostCache::append");
  m.add_tokens(k, v, m_new);
  if (m.last) m.last = 3;
}

void GhostCache::refit() {
  Impl& m = *impl_;
  m.check_device("GhostCache::refit");
  // every held token's K and V as the device holds them (bf16), in token order (pages in order: page table = identity)
  const int64_t n = m.n, np = (n + kPage - 1) / kPage, row = int64_t(m.hkv) * m.d;
  const size_t kv_page = size_t(m.hkv) * kPage * m.d;
  std::vector<uint16_t> kc(size_t(np) * kv_page), vc(kc.size());
  ck(cudaMemcpy(kc.data(), m.k.p, kc.size() * 2, cudaMemcpyDeviceToHost), "K");
  ck(cudaMemcpy(vc.data(), m.v.p, vc.size() * 2, cudaMemcpyDeviceToHost), "V");
  std::vector<float> kf(size_t(n) * row), vf(kf.size());
  for (int64_t t = 0; t < n; ++t)
    for (int g = 0; g < m.hkv; ++g)
      for (int j = 0; j < m.d; ++j) {
        const size_t src = size_t(t / kPage) * kv_page + (size_t(g) * kPage + size_t(t % kPage)) * m.d + size_t(j);
        kf[size_t(t * row + g * m.d + j)] = bf16_to_f32(kc[src]), vf[size_t(t * row + g * m.d + j)] = bf16_to_f32(vc[src]);
      }
  std::vector<float> rot, mu;
  std::vector<Basis> basis = fit_bases(kf.data(), n, m.hkv, m.d, &rot, &mu);
  // from here on the device changes: the new rotation, then every page's records rebuilt as an append onto an empty
  // cache (the construction's path); a failure part way leaves the cache refusing every later call
  try {
    ck(cudaMemcpy(m.rot.p, rot.data(), rot.size() * 4, cudaMemcpyHostToDevice), "rotation");
    ck(cudaMemcpy(m.mu.p, mu.data(), mu.size() * 4, cudaMemcpyHostToDevice), "mu");
    m.basis.swap(basis);
    m.n = 0;
    std::fill(m.tail_k.begin(), m.tail_k.end(), 0.0f), std::fill(m.tail_v.begin(), m.tail_v.end(), 0.0f);
    std::fill(m.resid_h.begin(), m.resid_h.end(), 0.0f), std::fill(m.kmax_h.begin(), m.kmax_h.end(), 0.0f);
    m.add_tokens(kf.data(), vf.data(), n);
  } catch (...) {
    m.broken = true;
    throw;
  }
  if (m.last) m.last = 3;
}

GhostCache::~GhostCache() = default;

void GhostCache::decode(const float* q, int n_head_q, double scale, float* out, Certificate* cert, bool dense) {
  Impl& m = *impl_;
  if (!q || !out || !cert) throw std::invalid_argument("ghostkv cuda: GhostCache::decode: null q, out or cert");
  if (n_head_q < m.hkv || n_head_q % m.hkv != 0 || n_head_q / m.hkv > 4 || !(scale > 0) || !std::isfinite(scale))
    throw std::invalid_argument("ghostkv cuda: GhostCache::decode: needs n_head_q a multiple of n_head_kv " +
                                std::to_string(m.hkv) + " with at most 4 query heads per KV head and a finite scale > 0 (got " +
                                std::to_string(n_head_q) + ", " + std::to_string(scale) + ")");
  m.check_device("GhostCache::decode");
  m.last = 0;  // until this step's results are back (the buffers below may be reallocated first)
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
  m.last = dense ? 2 : 1;
  m.last_p = p;
}

void GhostCache::last_step(StepDetail* d) const {
  const Impl& m = *impl_;
  if (!d) throw std::invalid_argument("ghostkv cuda: GhostCache::last_step: null detail");
  if (m.last != 1)
    throw std::logic_error(std::string("ghostkv cuda: GhostCache::last_step: ") +
                           (m.last == 0   ? "no decode has finished on this cache"
                            : m.last == 2 ? "the last decode was dense (every token attended, no bounds)"
                                          : "the cache changed since the last decode (an append or a refit)"));
  m.check_device("GhostCache::last_step");
  const DecodeParams& p = m.last_p;
  const Workspace w = workspace_views(p);
  const int hkv = m.hkv, hq = p.n_head_q, G = hq / hkv;
  const int64_t n = m.n;
  std::vector<int32_t> ns(static_cast<size_t>(hkv));
  std::vector<float> qscal(size_t(hq) * 4);
  std::vector<uint16_t> ub(size_t(hkv) * size_t(n) * G);
  ck(cudaMemcpy(ns.data(), w.n_surv, ns.size() * 4, cudaMemcpyDeviceToHost), "survivor counts");
  ck(cudaMemcpy(qscal.data(), w.qscal, qscal.size() * 4, cudaMemcpyDeviceToHost), "m_L");
  // with anchors: each page's bound where its anchor eliminated it (0xFFFF: the scan read the page), and the pages read
  const int64_t mp = (int64_t(p.max_seq) + kPage - 1) / kPage, pages = (n + kPage - 1) / kPage;
  std::vector<uint16_t> pub(p.box ? size_t(hkv) * size_t(pages) * G : 0);
  std::vector<int32_t> npl(static_cast<size_t>(hkv), int32_t(pages));
  if (p.box) {
    ck(cudaMemcpy2D(pub.data(), size_t(pages) * G * 2, w.pub, size_t(mp) * G * 2, size_t(pages) * G * 2, size_t(hkv),
                    cudaMemcpyDeviceToHost),
       "page bounds");
    ck(cudaMemcpy(npl.data(), w.n_plist, npl.size() * 4, cudaMemcpyDeviceToHost), "pages read");
  }
  // the token bounds the scan wrote: every token's, or with anchors those of the pages it read (a page its anchor
  // eliminated has no token bounds written: its bound is the page's), in runs of consecutive pages
  if (!p.box) {
    ck(cudaMemcpy2D(ub.data(), size_t(n) * G * 2, w.ub, size_t(p.max_seq) * G * 2, size_t(n) * G * 2, size_t(hkv),
                    cudaMemcpyDeviceToHost),
       "token bounds");
  } else {
    for (int g = 0; g < hkv; ++g)
      for (int64_t a = 0; a < pages;) {
        if (pub[(size_t(g) * size_t(pages) + size_t(a)) * G] != 0xFFFF) {
          ++a;
          continue;
        }
        int64_t b = a + 1;
        while (b < pages && pub[(size_t(g) * size_t(pages) + size_t(b)) * G] == 0xFFFF) ++b;
        const int64_t t0 = a * kPage, t1 = std::min<int64_t>(b * kPage, n);
        ck(cudaMemcpy(ub.data() + (size_t(g) * size_t(n) + size_t(t0)) * G, w.ub + (int64_t(g) * p.max_seq + t0) * G,
                      size_t(t1 - t0) * G * 2, cudaMemcpyDeviceToHost),
           "token bounds");
        a = b;
      }
  }
  std::vector<int32_t> table(static_cast<size_t>(m.cap_pages));  // the cache's page table: pages in order
  std::iota(table.begin(), table.end(), 0);
  StepDetail r;
  r.n = n, r.n_head_q = hq;
  r.kept.assign(size_t(hkv) * size_t(n), 0);
  for (int g = 0; g < hkv; ++g) {
    if (ns[size_t(g)] < 0 || ns[size_t(g)] > n)
      throw std::runtime_error("ghostkv cuda: GhostCache::last_step: KV head " + std::to_string(g) + " reports " +
                               std::to_string(ns[size_t(g)]) + " survivors of " + std::to_string(n) + " tokens");
    std::vector<int32_t> rows(static_cast<size_t>(ns[size_t(g)])), toks(rows.size());
    ck(cudaMemcpy(rows.data(), w.srow + int64_t(g) * p.max_seq, rows.size() * 4, cudaMemcpyDeviceToHost), "survivor rows");
    survivor_tokens(table.data(), int(n), rows.data(), int64_t(rows.size()), toks.data());
    for (size_t i = 0; i < toks.size(); ++i) {
      if (toks[i] < 0 || r.kept[size_t(g) * size_t(n) + size_t(toks[i])])
        throw std::runtime_error("ghostkv cuda: GhostCache::last_step: KV head " + std::to_string(g) + "'s survivor row " +
                                 std::to_string(rows[i]) + " is " + (toks[i] < 0 ? "outside the sequence" : "listed twice"));
      r.kept[size_t(g) * size_t(n) + size_t(toks[i])] = 1;
    }
  }
  const int64_t hot_lo = std::min<int64_t>(m.o.n_sink, n), hot_hi = std::max<int64_t>(n - m.o.n_recent, hot_lo);
  r.bound.assign(size_t(hq) * size_t(n), INFINITY);
  for (int h = 0; h < hq; ++h) {
    const int g = h / G, hh = h % G;
    const double ml = qscal[size_t(h) * 4 + 2];
    for (int64_t t = hot_lo; t < hot_hi; ++t) {
      // a page its anchor eliminated (its first head's entry not 0xFFFF, as ghostkv_gpu_bench reads it): its bound
      const size_t pe = (size_t(g) * size_t(pages) + size_t(t / kPage)) * G;
      const bool by_page = p.box && pub[pe] != 0xFFFF;
      const uint16_t b = by_page ? pub[pe + size_t(hh)] : ub[(size_t(g) * size_t(n) + size_t(t)) * G + hh];
      r.bound[size_t(h) * size_t(n) + size_t(t)] = double(f16_to_f32(b)) + ml;
    }
  }
  r.pages_read.assign(npl.begin(), npl.end());
  *d = std::move(r);
}

int64_t GhostCache::n() const { return impl_->n; }
int64_t GhostCache::capacity() const { return impl_->cap; }
int GhostCache::n_head_kv() const { return impl_->hkv; }
int GhostCache::d() const { return impl_->d; }
const CacheOptions& GhostCache::options() const { return impl_->o; }

}  // namespace ghostkv::cuda
