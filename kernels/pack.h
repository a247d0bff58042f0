// Host-side packing of one (sequence, KV head)'s witness records into the device page layout of
// decode.h, so a caller with a paged cache and the CPU library's records can fill DecodeParams'
// codes, meta, box, nu_max (quantised witness) or sketch, sk_rho, sk_err (low-rank witness).
// page_table[p] is the physical page of logical page p (tokens 64p..64p+63), in [0, n_phys) (checked:
// an entry outside throws, naming it, before anything is written); every array is the whole
// [n_phys, n_head_kv, ...] array of decode.h, written at KV head g only.
#pragma once

#include <cstdint>

#include "decode.h"
#include "ghostkv/basis.h"
#include "ghostkv/witness.h"

namespace ghostkv::cuda {

// The quantised witness: codes in fragment order (witness_page_offset), per page the f16 half-steps
// and errors (meta), the min and max code of each component over the page's tokens (box, box_offset)
// and the largest ν of its tokens (nu_max). rec must hold n_tokens ≥ 1 tokens in groups of kPage (the
// page is the quantisation group) with a GPU layout (witness_code_bytes(k8, d) code bytes).
// Returns the layout's k8 (decode.h witness_k8), which DecodeParams' bits / n8 must give too.
// Throws ghostkv::Error on a record set that does not fit the layout.
int pack_quant_pages(const QuantRecords& rec, int64_t n_tokens, const int32_t* page_table, int64_t n_phys, int n_head_kv,
                      int g, uint8_t* codes, uint16_t* meta, uint8_t* box, float* nu_max);

// The low-rank witness of the GPU scan (rank kSketchRank, decode.h; docs/gpu.md §Soundness): with
// c_t = V(k_t − μ) in float64 (V the basis rows, the quantised witness's rotation), the sketch holds
// ẑ_t = f16(c_t,j) for j < kSketchRank, sk_err e_t ≥ ||c_t,<R − ẑ_t|| and sk_rho ρ_t ≥ ||c_t,≥R||,
// both rounded up to f16 after adding the float64 build slack (kBuildSlack·||k_t − μ||). ρ here is
// the norm of the trailing rotated components, so the bound needs only k_t − μ = Vᵀc_t + r_t with
// ||r_t|| ≤ the quantised records' resid_max (the library's LowRankRecords define their residual
// directly instead, for a stored basis of any rank). keys: n_tokens rows of d floats. box (optional,
// nullptr: none): the low-rank page anchor of decode.h, [n_phys, n_head_kv, kLrBoxHalfs] f16: per page
// the min and max of each ẑ_tj over its tokens, the max e_t and the max ρ_t (all exact f16 maxima of
// the stored values), then zeros.
void pack_lowrank_pages(const Basis& basis, const float* keys, int64_t n_tokens, const int32_t* page_table,
                        int64_t n_phys, int n_head_kv, int g, uint16_t* sketch, uint16_t* sk_rho, uint16_t* sk_err,
                        uint16_t* box = nullptr);

}  // namespace ghostkv::cuda
