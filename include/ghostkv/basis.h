#pragma once
// Bases per (layer, KV head), fitted on a set of keys (DESIGN §4.1).
//   vecs  [d_head, d_head] row-major; row j is basis vector j (column j of P). The first `rank`
//         rows are the sketch basis P; the rest complete it (used by residual blocks and by the
//         rotated quantized witness, which uses all d_head rows as the rotation V).
//   mu    [d_head] centre (mean of the fitted keys, float32 as stored)
// Kinds:
//   pca      eigenvectors of the covariance of the centred keys, by decreasing variance
//   orth     Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed)
//   gauss    the prototype's projection: first `rank` rows iid N(0, 1/rank) (NOT orthonormal),
//            completed by an orthonormal basis of their orthogonal complement
//   identity the standard basis (rotation = I)
// Bounds never assume the stored vectors are exactly orthonormal (docs/math.md §2).
#include <cstdint>
#include <string>
#include <vector>

namespace ghostkv {

enum class BasisKind { pca, orth, gauss, identity };
BasisKind parse_basis_kind(const std::string& s);
const char* basis_kind_name(BasisKind k);

struct Basis {
  BasisKind kind = BasisKind::pca;
  int64_t d_head = 0;
  int64_t rank = 0;               // the rank it was fitted for (only `gauss` depends on it)
  std::vector<float> vecs;        // [d_head, d_head]
  std::vector<float> mu;          // [d_head]
  std::vector<double> variance;   // [d_head] variance of the fitted centred keys along each row
  const float* row(int64_t j) const { return vecs.data() + j * d_head; }
};

// keys: n rows of d floats, row t at keys + t * stride.
Basis fit_basis(BasisKind kind, const float* keys, int64_t n, int64_t stride, int64_t d, int64_t rank, uint64_t seed,
                bool center = true);

}  // namespace ghostkv
