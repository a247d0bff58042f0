#include "ghostkv/basis.h"

#include <Eigen/Dense>
#include <random>

#include "ghostkv/error.h"

namespace ghostkv {

BasisKind parse_basis_kind(const std::string& s) {
  if (s == "pca") return BasisKind::pca;
  if (s == "orth") return BasisKind::orth;
  if (s == "gauss") return BasisKind::gauss;
  if (s == "identity" || s == "none") return BasisKind::identity;
  throw Error(str_cat("basis: unknown kind '", s, "' (expected pca, orth, gauss or identity)"));
}

const char* basis_kind_name(BasisKind k) {
  switch (k) {
    case BasisKind::pca: return "pca";
    case BasisKind::orth: return "orth";
    case BasisKind::gauss: return "gauss";
    case BasisKind::identity: return "identity";
  }
  return "?";
}

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

static MatD gaussian(int64_t rows, int64_t cols, double sd, std::mt19937_64& rng) {
  std::normal_distribution<double> nd(0.0, sd);
  MatD m(rows, cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) m(i, j) = nd(rng);
  return m;
}

// Orthonormal basis (as rows) of the orthogonal complement of the row space of `a` [r, d].
static MatD complement_rows(const MatD& a, int64_t d) {
  Eigen::MatrixXd at = a.transpose();  // [d, r]
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(at);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
  return q.rightCols(d - a.rows()).transpose();
}

Basis fit_basis(BasisKind kind, const float* keys, int64_t n, int64_t stride, int64_t d, int64_t rank, uint64_t seed,
                bool center) {
  GKV_CHECK(d > 0, "basis: d_head must be > 0, got ", d);
  GKV_CHECK(rank >= 0 && rank <= d, "basis: rank ", rank, " outside [0, d_head = ", d, "]");
  GKV_CHECK(n > 0 || kind == BasisKind::orth || kind == BasisKind::gauss || kind == BasisKind::identity,
            "basis: cannot fit ", basis_kind_name(kind), " on 0 keys");
  Basis b;
  b.kind = kind;
  b.d_head = d;
  b.rank = rank;
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
  if (center && n > 0) {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < d; ++j) mean[j] += keys[t * stride + j];
    mean /= double(n);
  }
  b.mu.resize(d);
  for (int64_t j = 0; j < d; ++j) b.mu[j] = float(mean[j]);
  // covariance around the stored (float) centre
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
  if (n > 0) {
    Eigen::VectorXd x(d);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t j = 0; j < d; ++j) x[j] = double(keys[t * stride + j]) - double(b.mu[j]);
      cov.selfadjointView<Eigen::Lower>().rankUpdate(x);
    }
    cov = cov.selfadjointView<Eigen::Lower>();
    cov /= double(n);
  }
  MatD rows(d, d);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 0x243F6A8885A308D3ull);
  switch (kind) {
    case BasisKind::pca: {
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
      GKV_CHECK(es.info() == Eigen::Success, "basis: eigen-decomposition of the key covariance failed");
      for (int64_t j = 0; j < d; ++j) rows.row(j) = es.eigenvectors().col(d - 1 - j).transpose();  // descending
      break;
    }
    case BasisKind::orth: {
      Eigen::MatrixXd g = gaussian(d, d, 1.0, rng);
      Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
      Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
      Eigen::MatrixXd r = qr.matrixQR().triangularView<Eigen::Upper>();
      for (int64_t j = 0; j < d; ++j)
        if (r(j, j) < 0) q.col(j) = -q.col(j);
      rows = q.transpose();
      break;
    }
    case BasisKind::gauss: {
      MatD g = gaussian(rank, d, 1.0 / std::sqrt(double(std::max<int64_t>(rank, 1))), rng);
      rows.topRows(rank) = g;
      if (rank < d) rows.bottomRows(d - rank) = complement_rows(g, d);
      break;
    }
    case BasisKind::identity:
      rows.setIdentity();
      break;
  }
  b.vecs.resize(size_t(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) b.vecs[size_t(i * d + j)] = float(rows(i, j));
  b.variance.resize(d);
  for (int64_t j = 0; j < d; ++j) {
    Eigen::VectorXd v(d);
    for (int64_t i = 0; i < d; ++i) v[i] = b.vecs[size_t(j * d + i)];
    b.variance[j] = v.dot(cov * v);
  }
  return b;
}

}  // namespace ghostkv
