// The harness core: rows and resumable CSVs, progress, provenance, sources, dispatch.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "exp/common.h"
#include "ghostkv/error.h"
#include "ghostkv/io/capture.h"
#include "ghostkv/io/text.h"
#include "ghostkv/model/capture.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#include "ghostkv/synth.h"

namespace fs = std::filesystem;

namespace ghostkv::exp {

// ---------------------------------------------------------------- rows, CSV

static std::string fmt_num(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

Row& Row::set(const std::string& key, const std::string& value) {
  for (auto& kv : cols)
    if (kv.first == key) {
      kv.second = value;
      return *this;
    }
  cols.emplace_back(key, value);
  return *this;
}
Row& Row::set(const std::string& key, double value) { return set(key, fmt_num(value)); }
Row& Row::set(const std::string& key, int64_t value) { return set(key, std::to_string(value)); }
const std::string* Row::get(const std::string& key) const {
  for (const auto& kv : cols)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

static std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

std::vector<Row> read_csv(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f, path, ": cannot open");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  std::vector<std::vector<std::string>> recs;
  std::vector<std::string> rec;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') field += '"', ++i;
        else quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      rec.push_back(field), field.clear(), any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      if (any || !field.empty()) rec.push_back(field), recs.push_back(rec);
      rec.clear(), field.clear(), any = false;
    } else {
      field += c, any = true;
    }
  }
  GKV_CHECK(!quoted, path, ": unterminated quoted field at the end of the file");
  if (any || !field.empty()) rec.push_back(field), recs.push_back(rec);
  std::vector<Row> rows;
  if (recs.empty()) return rows;
  const auto& hdr = recs[0];
  for (size_t r = 1; r < recs.size(); ++r) {
    GKV_CHECK(recs[r].size() == hdr.size(), path, ": record ", r + 1, " has ", recs[r].size(), " fields, the header ",
              hdr.size());
    Row row;
    for (size_t j = 0; j < hdr.size(); ++j) row.cols.emplace_back(hdr[j], recs[r][j]);
    rows.push_back(std::move(row));
  }
  return rows;
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  const std::string tmp = path + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    GKV_CHECK(f, tmp, ": cannot create");
    const size_t n = std::fwrite(text.data(), 1, text.size(), f);
    const bool ok = n == text.size() && std::fflush(f) == 0;
    std::fclose(f);
    GKV_CHECK(ok, tmp, ": short write (", n, " of ", text.size(), " bytes)");
  }
  fs::rename(tmp, path);
}

ResultTable::ResultTable(std::string path, std::string config_hash, const std::set<std::string>* valid_jobs)
    : path_(std::move(path)), config_hash_(std::move(config_hash)) {
  if (!fs::exists(path_)) return;
  for (Row& r : read_csv(path_)) {
    const std::string* h = r.get("config_hash");
    const std::string* j = r.get("job");
    const bool keep = j && (valid_jobs ? valid_jobs->count(*j) > 0 : (h && *h == config_hash_));
    if (!keep) {
      ++dropped_;
      continue;
    }
    jobs_.insert(*j);
    rows_.push_back(std::move(r));
  }
}

void ResultTable::add_job(const std::string& job, std::vector<Row> rows) {
  GKV_ASSERT(!done(job), "job written twice: ", job);
  for (Row& r : rows) {
    Row o;
    o.set("job", job);
    o.set("config_hash", config_hash_);
    for (auto& kv : r.cols) o.set(kv.first, kv.second);
    rows_.push_back(std::move(o));
  }
  jobs_.insert(job);
  write();
}

void ResultTable::write() const {
  std::vector<std::string> cols;
  std::set<std::string> seen;
  for (const Row& r : rows_)
    for (const auto& kv : r.cols)
      if (seen.insert(kv.first).second) cols.push_back(kv.first);
  std::string out;
  for (size_t j = 0; j < cols.size(); ++j) out += (j ? "," : "") + csv_field(cols[j]);
  out += "\n";
  for (const Row& r : rows_) {
    for (size_t j = 0; j < cols.size(); ++j) {
      const std::string* v = r.get(cols[j]);
      out += (j ? "," : "") + (v ? csv_field(*v) : std::string());
    }
    out += "\n";
  }
  write_file_atomic(path_, out);
}

// ---------------------------------------------------------------- progress

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string what, int64_t total) : what_(std::move(what)), total_(total), t0_(now_s()) {
  draw("");
}
void Progress::step(const std::string& label) {
  ++done_;
  draw(label);
}
void Progress::skip(int64_t n) {
  skipped_ += n;
  draw("(resumed)");
}
void Progress::draw(const std::string& label) const {
  const int64_t n = done_ + skipped_;
  const double el = now_s() - t0_;
  const double eta = done_ > 0 ? el / double(done_) * double(total_ - n) : 0;
  const int w = 24, fill = total_ > 0 ? int(w * n / total_) : w;
  std::fprintf(stderr, "\r%-12s [%s%s] %lld/%lld  %4.0fs elapsed  ETA %4.0fs  %-40.40s", what_.c_str(),
               std::string(size_t(fill), '#').c_str(), std::string(size_t(w - fill), ' ').c_str(), (long long)n,
               (long long)total_, el, eta, label.c_str());
  std::fflush(stderr);
}
void Progress::finish() { std::fprintf(stderr, "\n"); }

// ---------------------------------------------------------------- context, paths

std::string short_hash(const std::string& s) { return sha256_hex(s).substr(0, 12); }

std::string repo_root() {
  if (const char* r = std::getenv("GHOSTKV_ROOT"); r && *r) return r;
  return fs::current_path().string();
}
std::string shared_dir() {
  if (const char* s = std::getenv("GHOSTKV_SHARED"); s && *s) return s;
  return (fs::path(repo_root()).parent_path() / "shared").string();
}

std::string expand_path(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      const size_t e = s.find('}', i);
      GKV_CHECK(e != std::string::npos, "config path '", s, "': unterminated ${");
      const std::string var = s.substr(i + 2, e - i - 2);
      if (var == "SHARED") {
        o += shared_dir();
      } else if (var == "ROOT") {
        o += repo_root();
      } else {
        const char* v = std::getenv(var.c_str());
        GKV_CHECK(v, "config path '", s, "': environment variable ", var, " is not set (source scripts/env.sh)");
        o += v;
      }
      i = e;
    } else {
      o += s[i];
    }
  }
  return o;
}

static std::string git_commit() {
  std::string cmd = "git -C '" + repo_root() + "' describe --always --dirty --abbrev=12 2>/dev/null";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "unknown";
  char buf[128] = {0};
  std::string s = std::fgets(buf, sizeof buf, p) ? buf : "unknown";
  pclose(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.empty() ? "unknown" : s;
}

void Context::commit(ResultTable& table, const std::string& job, std::vector<Row> rows) {
  for (Row& r : rows) {
    r.set("experiment", experiment);
    r.set("git_commit", git_commit);
    r.set("seed", int64_t(seed));
    r.set("threads", int64_t(threads));
  }
  table.add_job(job, std::move(rows));
  ++jobs_written;
  if (stop_after_jobs >= 0 && jobs_written >= stop_after_jobs) {
    std::fprintf(stderr, "\nghostkv run: stopping after %lld jobs (test hook)\n", (long long)jobs_written);
    std::fflush(stderr);
    std::_Exit(75);
  }
}

void Context::skipped(const std::string& what, const std::string& why) {
  std::fprintf(stderr, "%s: skipped %s: %s\n", experiment.c_str(), what.c_str(), why.c_str());
  skips.push_back(what + ": " + why);
}
void Context::write_skips() const {
  std::string s;
  for (const auto& x : skips) s += x + "\n";
  write_file_atomic((fs::path(out_dir) / (fs::path(csv_path).stem().string() + ".skipped.txt")).string(), s);
}

// ---------------------------------------------------------------- sources

AttnInputs SourceUnit::load(int64_t layer) const {
  if (data_kind == "synthetic") {
    SynthSpec sp;
    sp.kind = synth.value("gen", std::string("structured"));
    sp.n_kv = synth.value("n_kv", int64_t(4096));
    sp.n_q = synth.value("n_q", int64_t(64));
    sp.n_head_q = synth.value("n_head_q", int64_t(8));
    sp.n_head_kv = synth.value("n_head_kv", int64_t(2));
    sp.d_head = synth.value("d_head", int64_t(128));
    sp.diffuse_head_frac = synth.value("diffuse_frac", sp.diffuse_head_frac);
    sp.n_needles = synth.value("needles", sp.n_needles);
    sp.key_noise = synth.value("key_noise", sp.key_noise);
    sp.key_rank = synth.value("key_rank", sp.key_rank);
    sp.seed = seed * 1000003ull + uint64_t(layer);
    return make_synthetic(sp);
  }
  return read_capture_layer(capture_dir, layer);
}

static std::vector<int64_t> layer_list(const json& s, int64_t n_layer) {
  if (!s.contains("layers")) {
    std::vector<int64_t> v(static_cast<size_t>(n_layer));
    for (int64_t i = 0; i < n_layer; ++i) v[size_t(i)] = i;
    return v;
  }
  if (s["layers"].is_string()) return parse_layers(s["layers"].get<std::string>(), n_layer);
  std::vector<int64_t> v = s["layers"].get<std::vector<int64_t>>();
  for (int64_t l : v) GKV_CHECK(l >= 0 && l < n_layer, "source layers: ", l, " outside [0, ", n_layer, ")");
  return v;
}

static std::string stem_of(const std::string& path) {
  std::string n = fs::path(path).filename().string();
  for (const char* ext : {".xz", ".txt"})
    if (n.size() > std::strlen(ext) && n.compare(n.size() - std::strlen(ext), std::strlen(ext), ext) == 0)
      n.resize(n.size() - std::strlen(ext));
  return n;
}

static std::string cache_root() {
  if (const char* c = std::getenv("GHOSTKV_CACHE"); c && *c) return (fs::path(c) / "captures").string();
  if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "ghostkv" / "captures").string();
  return (fs::path(repo_root()) / ".cache" / "captures").string();
}

std::vector<SourceUnit> resolve_sources(Context& ctx, const json& sources) {
  std::vector<SourceUnit> out;
  for (const json& s : sources) {
    const std::string name = s.value("name", std::string("source"));
    const std::string kind = s.value("kind", std::string(""));
    if (kind == "synthetic") {
      const std::vector<uint64_t> seeds = s.value("seeds", std::vector<uint64_t>{ctx.seed});
      const int64_t n_layer = s.value("n_layer", int64_t(1));
      for (uint64_t sd : seeds) {
        SourceUnit u;
        u.source = name;
        u.unit = "seed" + std::to_string(sd);
        u.data_kind = "synthetic";
        u.synth = s;
        u.seed = sd;
        u.ctx = s.value("n_kv", int64_t(4096));
        u.model = "synthetic:" + s.value("gen", std::string("structured"));
        u.layers = layer_list(s, n_layer);
        json sp = s;  // the unit depends on its own seed, not on the other seeds of the list
        sp.erase("seeds");
        u.spec = sp.dump() + "|" + u.unit;
        out.push_back(std::move(u));
      }
    } else if (kind == "capture") {
      const std::string dir = expand_path(s.at("dir").get<std::string>());
      if (!fs::exists(fs::path(dir) / "manifest.json")) {
        ctx.skipped(name, dir + " has no manifest.json");
        continue;
      }
      CaptureInfo info = read_capture_info(dir);
      SourceUnit u;
      u.source = name;
      u.unit = fs::path(dir).filename().string();
      u.data_kind = s.value("data_kind", std::string("real"));
      u.model = info.model;
      u.ctx = info.n_kv;
      u.capture_dir = dir;
      u.layers = s.contains("layers") ? layer_list(s, 1 << 20) : info.layers;
      u.spec = s.dump() + "|" + u.unit;
      out.push_back(std::move(u));
    } else if (kind == "model") {
      const std::string model = expand_path(s.at("model").get<std::string>());
      const int64_t ctx_len = s.at("ctx").get<int64_t>();
      const int64_t n_q = s.value("queries", int64_t(64));
      const std::string bos = s.value("bos", std::string("auto"));
      if (!fs::exists(model)) {
        ctx.skipped(name, model + " does not exist");
        continue;
      }
      std::vector<std::string> texts;
      for (const auto& t : s.at("texts")) texts.push_back(expand_path(t.get<std::string>()));
      // one model load for all texts, only when a capture is missing from the cache
      std::unique_ptr<LlamaWeights> w;
      std::unique_ptr<Tokenizer> tok;
      bool load_failed = false;
      for (const std::string& text : texts) {
        if (!fs::exists(text)) {
          ctx.skipped(name + "/" + stem_of(text), text + " does not exist");
          continue;
        }
        std::error_code ec;
        const auto msize = fs::is_directory(model) ? 0 : fs::file_size(model, ec);
        const std::string key = short_hash(str_cat("capture-v1|", fs::absolute(model).string(), "|", msize, "|",
                                                   fs::absolute(text).string(), "|", ctx_len, "|", n_q, "|", bos));
        const fs::path dir = fs::path(cache_root()) / (stem_of(model) + "-" + stem_of(text) + "-" + key);
        if (!fs::exists(dir / "manifest.json")) {
          if (load_failed) continue;
          try {
            if (!w) {
              w = std::make_unique<LlamaWeights>(load_model(model));
              tok = std::make_unique<Tokenizer>(load_tokenizer_for(model, "", w->cfg.n_vocab));
            }
          } catch (const std::exception& e) {
            load_failed = true;
            ctx.skipped(name, std::string("cannot load the model: ") + e.what());
            continue;
          }
          const std::string txt = read_text_file(text);
          std::vector<int32_t> ids = tok->encode(txt, false);
          const int32_t bos_id = w->cfg.bos_id >= 0 ? int32_t(w->cfg.bos_id) : tok->bos_id();
          if ((bos == "yes" || bos == "auto") && bos_id >= 0 && (ids.empty() || ids[0] != bos_id))
            ids.insert(ids.begin(), bos_id);
          if (int64_t(ids.size()) < ctx_len) {
            ctx.skipped(name + "/" + stem_of(text), str_cat(ids.size(), " tokens, fewer than ctx ", ctx_len));
            continue;
          }
          ids.resize(size_t(ctx_len));
          std::fprintf(stderr, "%s: prefill %s on %s (%lld tokens) with capture ...\n", ctx.experiment.c_str(),
                       name.c_str(), stem_of(text).c_str(), (long long)ctx_len);
          const double t0 = now_s();
          EngineOptions eo;
          eo.max_ctx = ctx_len;
          Engine eng(*w, eo);
          std::vector<int64_t> all_layers(static_cast<size_t>(w->cfg.n_layer));
          for (int64_t l = 0; l < w->cfg.n_layer; ++l) all_layers[size_t(l)] = l;
          std::vector<AttnInputs> caps =
              capture_layers(eng, ids, all_layers, parse_query_positions(str_cat("last:", n_q), ctx_len));
          const fs::path tmp = dir.string() + ".tmp";
          fs::remove_all(tmp);
          for (size_t l = 0; l < caps.size(); ++l) write_capture_layer(tmp.string(), int64_t(l), caps[l]);
          CaptureInfo info;
          info.model = model;
          info.text_sha256 = sha256_hex(txt);
          info.n_kv = ctx_len;
          info.n_head_q = w->cfg.n_head_q;
          info.n_head_kv = w->cfg.n_head_kv;
          info.d_head = w->cfg.d_head;
          info.scale = w->cfg.attn_scale();
          info.layers = all_layers;
          write_capture_info(tmp.string(), info);
          fs::remove_all(dir);
          fs::rename(tmp, dir);
          std::fprintf(stderr, "%s: captured %s / %s in %.1f s -> %s\n", ctx.experiment.c_str(), name.c_str(),
                       stem_of(text).c_str(), now_s() - t0, dir.c_str());
        }
        CaptureInfo info = read_capture_info(dir.string());
        SourceUnit u;
        u.source = name;
        u.unit = stem_of(text);
        u.data_kind = "real";
        u.model = stem_of(model);
        u.ctx = info.n_kv;
        u.capture_dir = dir.string();
        u.layers = layer_list(s, int64_t(info.layers.size()));
        json sp = s;  // the unit depends on its own text, not on the other texts of the list
        sp.erase("texts");
        u.spec = sp.dump() + "|" + text;
        out.push_back(std::move(u));
      }
    } else {
      throw Error(str_cat(ctx.config_path, ": source '", name, "' has kind '", kind,
                          "', expected synthetic | capture | model"));
    }
  }
  return out;
}

// ---------------------------------------------------------------- options, slices

EliminateOptions method_options(const json& m, const Context& ctx) {
  EliminateOptions o;
  o.witness = parse_witness(m.value("witness", std::string("quant")));
  const std::string sketch = m.value("sketch", std::string("pca"));
  if (sketch == "proto") o.witness = WitnessKind::proto;
  else o.sketch = parse_basis_kind(sketch);
  o.rank = m.value("rank", o.rank);
  o.residual_blocks = m.value("blocks", o.residual_blocks);
  o.storage = parse_storage(m.value("storage", std::string("bf16")));
  o.bits = m.value("bits", o.bits);
  o.group = m.value("group", o.group);
  o.n_sink = m.value("sink", o.n_sink);
  o.n_recent = m.value("recent", o.n_recent);
  o.proto_eps = m.value("proto_eps", o.proto_eps);
  o.proto_sigma = m.value("proto_sigma", o.proto_sigma);
  o.topk_metric = m.value("topk_metric", o.topk_metric);
  o.anchors.kind = parse_anchor_kind(m.value("anchors", std::string("none")));
  o.anchors.bound = parse_anchor_bound(m.value("anchor_bound", std::string("box")));
  o.anchors.space = parse_anchor_space(m.value("anchor_space", std::string("orig")));
  o.anchors.page = m.value("page", o.anchors.page);
  o.anchors.clusters = m.value("clusters", o.anchors.clusters);
  o.anchors.iterations = m.value("kmeans_iters", o.anchors.iterations);
  o.anchors.seed = ctx.seed;
  o.seed = ctx.seed;
  o.threads = ctx.threads;
  return o;
}

double quantile(std::vector<double> x, double q) {
  if (x.empty()) return NAN;
  std::sort(x.begin(), x.end());
  const double pos = q * double(x.size() - 1);
  const size_t i = size_t(pos);
  const double f = pos - double(i);
  return i + 1 < x.size() ? x[i] * (1 - f) + x[i + 1] * f : x[i];
}
double mean_of(const std::vector<double>& x) {
  if (x.empty()) return NAN;
  double s = 0;
  for (double v : x) s += v;
  return s / double(x.size());
}

void SliceAcc::add(const EliminateResult& r, int64_t n_head_kv, int64_t group, int64_t kv_head) {
  const int64_t n_q = int64_t(r.steps.size()) / n_head_kv;
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t g = 0; g < n_head_kv; ++g) {
      if (kv_head >= 0 && g != kv_head) continue;
      const StepStats& s = r.steps[size_t(i * n_head_kv + g)];
      ++n_steps;
      read_bytes += s.read_bytes;
      dense_bytes += s.dense_bytes;
      n_cand += double(s.n_cand);
      n_anchor_elim += double(s.n_anchor_elim);
      n_records += double(s.n_records_read);
      if (s.n_cand > 0) {
        elim.push_back(double(s.n_elim) / double(s.n_cand));
        oracle_elim.push_back(double(s.n_oracle_elim) / double(s.n_cand));
      }
      for (int64_t hh = 0; hh < group; ++hh) {
        const HeadStats& h = r.heads[size_t(i * n_head_kv * group + g * group + hh)];
        ++n_heads;
        cand_checked += double(h.n_cand);
        violations += h.violations;
        cert_failures += h.cert_fail ? 1 : 0;
        mass_lost.push_back(h.mass_lost);
        mass_bound.push_back(h.mass_bound);
        out_rel_err.push_back(h.out_rel_err);
        fer_mass.push_back(h.fer_mass);
        fer_mass_chance.push_back(h.fer_mass_chance);
        if (h.n_cand > 0) {
          fer_topk.push_back(h.fer_topk);
          recall.push_back(h.recall);
          spearman.push_back(h.spearman);
          tightness.push_back(h.mass_bound / std::max(h.mass_lost, 1e-300));
        }
      }
    }
}

void SliceAcc::merge(const SliceAcc& o) {
  auto cat = [](std::vector<double>& a, const std::vector<double>& b) { a.insert(a.end(), b.begin(), b.end()); };
  cat(elim, o.elim), cat(oracle_elim, o.oracle_elim), cat(mass_lost, o.mass_lost), cat(mass_bound, o.mass_bound);
  cat(out_rel_err, o.out_rel_err), cat(fer_topk, o.fer_topk), cat(fer_mass, o.fer_mass);
  cat(fer_mass_chance, o.fer_mass_chance), cat(recall, o.recall), cat(spearman, o.spearman), cat(tightness, o.tightness);
  read_bytes += o.read_bytes, dense_bytes += o.dense_bytes, n_cand += o.n_cand, n_anchor_elim += o.n_anchor_elim;
  n_records += o.n_records, cand_checked += o.cand_checked, violations += o.violations, cert_failures += o.cert_failures;
  n_steps += o.n_steps, n_heads += o.n_heads;
}

void SliceAcc::emit(Row& row) const {
  auto mx = [](const std::vector<double>& x) { return x.empty() ? NAN : *std::max_element(x.begin(), x.end()); };
  row.set("n_steps", n_steps);
  row.set("elim_rate_mean", mean_of(elim));
  row.set("elim_rate_p10", quantile(elim, 0.1));
  row.set("elim_rate_median", quantile(elim, 0.5));
  row.set("elim_rate_p90", quantile(elim, 0.9));
  row.set("oracle_elim_rate_mean", mean_of(oracle_elim));
  row.set("oracle_elim_rate_median", quantile(oracle_elim, 0.5));
  row.set("kv_bytes_frac", dense_bytes > 0 ? read_bytes / dense_bytes : NAN);
  row.set("mass_lost_mean", mean_of(mass_lost));
  row.set("mass_lost_p90", quantile(mass_lost, 0.9));
  row.set("mass_lost_max", mx(mass_lost));
  row.set("mass_bound_mean", mean_of(mass_bound));
  row.set("mass_bound_max", mx(mass_bound));
  row.set("mass_tightness_median", quantile(tightness, 0.5));
  row.set("out_rel_err_mean", mean_of(out_rel_err));
  row.set("out_rel_err_p90", quantile(out_rel_err, 0.9));
  row.set("out_rel_err_max", mx(out_rel_err));
  const double fk = mean_of(fer_topk), er = mean_of(elim);
  row.set("fer_topk_mean", fk);
  row.set("fer_topk_chance", er);  // a random cut of the same size hits each top-k token with probability elim
  row.set("fer_mass_mean", mean_of(fer_mass));
  row.set("fer_mass_chance", mean_of(fer_mass_chance));
  row.set("recall_mean", mean_of(recall));
  row.set("spearman_mean", mean_of(spearman));
  row.set("violations", violations);
  row.set("candidates_checked", int64_t(cand_checked));
  row.set("certificate_failures", cert_failures);
  row.set("anchor_elim_rate", n_cand > 0 ? n_anchor_elim / n_cand : NAN);
  row.set("records_read_frac", n_cand > 0 ? n_records / n_cand : NAN);
  // the prototype's safe point (fer_topk ≤ 5% with elim ≥ 30%) and the certified one (every mass_bound ≤ 1e-3)
  row.set("safe_proto", int64_t(!std::isnan(fk) && fk <= 0.05 && er >= 0.30));
  row.set("safe_cert", int64_t(!mass_bound.empty() && mx(mass_bound) <= 1e-3));
}

// ---------------------------------------------------------------- dispatch

const std::vector<std::string>& experiment_names() {
  static const std::vector<std::string> n = {"sketch-audit", "tradeoff",  "bandwidth", "decode-sim", "validate",
                                             "hierarchical", "frontier", "baselines", "model-decode", "report"};
  return n;
}

static std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GKV_CHECK(f, path, ": cannot open the config");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run_experiment(const RunArgs& a) {
  const auto& names = experiment_names();
  GKV_CHECK(std::find(names.begin(), names.end(), a.experiment) != names.end(), "run: unknown experiment '",
            a.experiment, "' (expected one of sketch-audit, tradeoff, bandwidth, decode-sim, validate, hierarchical, "
            "frontier, baselines, model-decode, report)");
  GKV_CHECK(!a.config.empty(), "run ", a.experiment, ": --config FILE is required");
  const std::string text = read_all(a.config);
  Context ctx;
  try {
    ctx.cfg = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    throw Error(str_cat(a.config, ": not valid JSON: ", e.what()));
  }
  GKV_CHECK(ctx.cfg.is_object(), a.config, ": expected a JSON object at the top level");
  const std::string declared = ctx.cfg.value("experiment", a.experiment);
  GKV_CHECK(declared == a.experiment, a.config, ": config is for experiment '", declared, "', not '", a.experiment, "'");
  ctx.experiment = a.experiment;
  ctx.config_path = a.config;
  ctx.config_hash = short_hash(text);
  ctx.stop_after_jobs = a.stop_after_jobs;
  if (const char* e = std::getenv("GHOSTKV_RUN_STOP_AFTER_JOBS"); e && *e && ctx.stop_after_jobs < 0)
    ctx.stop_after_jobs = std::atoll(e);
  if (a.experiment == "report") {
    int rc = 0;
    for (const auto& step : ctx.cfg.at("run")) {
      RunArgs sub;
      sub.experiment = step.at("experiment").get<std::string>();
      GKV_CHECK(sub.experiment != "report", a.config, ": a report cannot run a report");
      sub.config = (fs::path(a.config).parent_path() / step.at("config").get<std::string>()).lexically_normal().string();
      if (!fs::exists(sub.config)) sub.config = expand_path(step.at("config").get<std::string>());
      sub.threads = a.threads;
      sub.stop_after_jobs = a.stop_after_jobs;
      std::fprintf(stderr, "== %s (%s)\n", sub.experiment.c_str(), sub.config.c_str());
      const double t0 = now_s();
      rc = std::max(rc, run_experiment(sub));
      std::fprintf(stderr, "== %s done in %.0f s\n", sub.experiment.c_str(), now_s() - t0);
    }
    return rc;
  }
  ctx.seed = ctx.cfg.value("seed", uint64_t(0));
  ctx.threads = a.threads > 0 ? a.threads : ctx.cfg.value("threads", 0);
  if (ctx.threads <= 0) ctx.threads = omp_get_max_threads();
  ctx.git_commit = git_commit();
  std::string csv = a.out;
  if (csv.empty()) csv = ctx.cfg.value("output", std::string());
  if (csv.empty()) csv = str_cat("results/", a.experiment, "/", a.experiment, ".csv");
  if (fs::path(csv).is_relative() && a.out.empty()) csv = (fs::path(repo_root()) / csv).string();
  ctx.csv_path = csv;
  ctx.out_dir = fs::path(csv).has_parent_path() ? fs::path(csv).parent_path().string() : ".";
  fs::create_directories(ctx.out_dir);
  int rc = 0;
  if (a.experiment == "baselines") rc = exp_baselines(ctx);
  else if (a.experiment == "bandwidth") rc = exp_bandwidth(ctx);
  else if (a.experiment == "decode-sim") rc = exp_decode_sim(ctx);
  else if (a.experiment == "model-decode") rc = exp_model_decode(ctx);
  else rc = exp_sweep(ctx);
  ctx.write_skips();
  return rc;
}

}  // namespace ghostkv::exp
