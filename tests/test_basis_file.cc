// Basis files: write → read round-trips bit for bit; damaged files are errors naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "ghostkv/error.h"
#include "ghostkv/io/basis_file.h"
#include "ghostkv/model/calibrate.h"
#include "ghostkv/model/weights.h"

using namespace ghostkv;
namespace fs = std::filesystem;

static BasisSet random_set(int64_t d, int64_t heads, std::vector<int64_t> layers) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd;
  BasisSet s;
  s.model = "test";
  s.n_layer = 8;
  s.n_head_kv = heads;
  s.d_head = d;
  s.layers = layers;
  std::vector<float> keys(size_t(50 * d));
  for (auto& x : keys) x = nd(rng);
  for (size_t i = 0; i < layers.size() * size_t(heads); ++i) s.bases.push_back(fit_basis(BasisKind::pca, keys.data(), 50, d, d, d, i));
  return s;
}

TEST(BasisFile, RoundTripBitForBit) {
  const std::string f = (fs::temp_directory_path() / "gkv_basis_test.bin").string();
  BasisSet s = random_set(12, 2, {1, 5});
  write_basis_file(f, s);
  BasisSet r = read_basis_file(f);
  ASSERT_EQ(r.layers, s.layers);
  ASSERT_EQ(r.bases.size(), s.bases.size());
  for (size_t i = 0; i < s.bases.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(r.bases[i].vecs.data(), s.bases[i].vecs.data(), s.bases[i].vecs.size() * 4));
    EXPECT_EQ(0, std::memcmp(r.bases[i].mu.data(), s.bases[i].mu.data(), s.bases[i].mu.size() * 4));
    EXPECT_EQ(0, std::memcmp(r.bases[i].variance.data(), s.bases[i].variance.data(), s.bases[i].variance.size() * 8));
  }
  EXPECT_EQ(&r.at(5, 1), &r.bases[3]);
  EXPECT_THROW(r.at(2, 0), Error);
  // rewriting what was read gives the same bytes
  const std::string f2 = f + ".2";
  write_basis_file(f2, r);
  std::ifstream a(f, std::ios::binary), b(f2, std::ios::binary);
  std::string sa((std::istreambuf_iterator<char>(a)), {}), sb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(sa, sb);
  // damage: truncation, bad magic, wrong version
  for (int kind = 0; kind < 3; ++kind) {
    std::string bad = sa;
    if (kind == 0) bad.resize(bad.size() - 7);
    if (kind == 1) bad[0] = 'X';
    if (kind == 2) bad[8] = 9;
    std::ofstream(f2, std::ios::binary) << bad;
    try {
      read_basis_file(f2);
      ADD_FAILURE() << "damaged file " << kind << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f2), std::string::npos) << e.what();
    }
  }
  fs::remove(f);
  fs::remove(f2);
}

TEST(BasisFile, CalibrateOnTinyModel) {
  LlamaWeights w = load_model(std::string(GHOSTKV_SOURCE_DIR) + "/tests/data/models/tiny-llama-gqa-llama3");
  Engine eng(w);
  std::vector<int32_t> a(40), b(30);
  for (size_t i = 0; i < a.size(); ++i) a[i] = int32_t(3 + i * 7 % 200);
  for (size_t i = 0; i < b.size(); ++i) b[i] = int32_t(5 + i * 11 % 200);
  BasisSet s = calibrate_bases(eng, {a, b}, {0, 1}, BasisKind::pca, 0);
  EXPECT_EQ(s.fit_tokens, 70);
  ASSERT_EQ(int64_t(s.bases.size()), 2 * w.cfg.n_head_kv);
  // the centre is the mean of the pooled keys of both texts (layer 1, head 0)
  std::vector<double> mean(size_t(w.cfg.d_head), 0.0);
  for (const auto& ids : {a, b}) {
    eng.reset();
    eng.forward(ids.data(), int64_t(ids.size()), nullptr, 0);
    const float* k = eng.k_cache(1);
    for (size_t t = 0; t < ids.size(); ++t)
      for (int64_t j = 0; j < w.cfg.d_head; ++j) mean[size_t(j)] += k[(int64_t(t) * w.cfg.n_head_kv) * w.cfg.d_head + j];
  }
  for (int64_t j = 0; j < w.cfg.d_head; ++j) EXPECT_NEAR(s.at(1, 0).mu[size_t(j)], mean[size_t(j)] / 70, 1e-5);
}
