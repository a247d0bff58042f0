// Python binding of libghostkv (module `ghostkv`): certified elimination on numpy arrays, the
// synthetic generators, and the CPU engine (load a model, tokenize, logits, generate, capture).
// Arrays cross the boundary as copies (C-order float32/int64); every error is a ghostkv.Error
// (a RuntimeError) carrying the library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ghostkv/eliminate.h"
#include "ghostkv/error.h"
#include "ghostkv/model/capture.h"
#include "ghostkv/model/eliminate_hook.h"
#include "ghostkv/model/engine.h"
#include "ghostkv/model/load.h"
#include "ghostkv/model/weights.h"
#include "ghostkv/synth.h"

namespace py = pybind11;
using namespace ghostkv;

namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using I64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

Tensor tensor_from(const F32Array& a, const char* name, int want_ndim) {
  GKV_CHECK(a.ndim() == want_ndim, str_cat(name, ": expected ", want_ndim, " dimensions, got ", a.ndim()));
  std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
  Tensor t(DType::f32, shape);
  std::memcpy(t.raw(), a.data(), t.nbytes());
  return t;
}

py::array to_numpy(const Tensor& t) {
  if (t.empty()) return py::array_t<float>(0);
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  switch (t.dtype()) {
    case DType::f32: { py::array_t<float> a(shape); std::memcpy(a.mutable_data(), t.raw(), t.nbytes()); return a; }
    case DType::f64: { py::array_t<double> a(shape); std::memcpy(a.mutable_data(), t.raw(), t.nbytes()); return a; }
    case DType::i64: { py::array_t<int64_t> a(shape); std::memcpy(a.mutable_data(), t.raw(), t.nbytes()); return a; }
    case DType::u8: { py::array_t<uint8_t> a(shape); std::memcpy(a.mutable_data(), t.raw(), t.nbytes()); return a; }
    default: { Tensor f = t.to_f32(); return to_numpy(f); }
  }
}

py::dict dist_dict(const Dist& d) {
  py::dict o;
  o["mean"] = d.mean; o["median"] = d.median; o["p10"] = d.p10; o["p90"] = d.p90; o["min"] = d.min; o["max"] = d.max;
  return o;
}

py::dict inputs_dict(const AttnInputs& in) {
  py::dict o;
  o["q"] = to_numpy(in.q);
  o["k"] = to_numpy(in.k);
  o["v"] = to_numpy(in.v);
  o["positions"] = to_numpy(in.positions);
  o["scale"] = in.scale;
  return o;
}

py::dict eliminate_py(const F32Array& q, const F32Array& k, const F32Array& v, py::object positions, double scale,
                      const std::string& witness, const std::string& policy, const std::string& bits, int64_t group,
                      int64_t rank, int64_t residual_blocks, const std::string& storage, const std::string& sketch,
                      int64_t n_sink, int64_t n_recent, double two_stage, bool reference, const std::string& anchors,
                      int64_t anchor_page, int64_t anchor_clusters, uint64_t seed, bool keep_arrays, int threads) {
  AttnInputs in;
  in.q = tensor_from(q, "q", 3);
  in.k = tensor_from(k, "k", 3);
  in.v = tensor_from(v, "v", 3);
  if (!positions.is_none()) {
    I64Array p = positions.cast<I64Array>();
    GKV_CHECK(p.ndim() == 1, str_cat("positions: expected 1 dimension, got ", p.ndim()));
    in.positions = Tensor(DType::i64, {int64_t(p.shape(0))});
    std::memcpy(in.positions.raw(), p.data(), in.positions.nbytes());
  }
  in.scale = scale > 0 ? scale : 1.0 / std::sqrt(double(in.q.dim(2)));
  validate_inputs(in);
  EliminateOptions o;
  o.witness = parse_witness(witness);
  o.policy = parse_policy(policy);
  o.bits = bits;
  o.group = group;
  o.rank = rank;
  o.residual_blocks = residual_blocks;
  o.storage = parse_storage(storage);
  o.sketch = parse_basis_kind(sketch);
  o.n_sink = n_sink;
  o.n_recent = n_recent;
  o.two_stage = two_stage;
  o.reference = reference;
  o.anchors.kind = parse_anchor_kind(anchors);
  o.anchors.page = anchor_page;
  o.anchors.clusters = anchor_clusters;
  o.seed = seed;
  o.keep_arrays = keep_arrays;
  o.threads = threads;
  EliminateResult r;
  {
    py::gil_scoped_release release;
    r = run_eliminate(in, o);
  }
  py::dict d;
  d["violations"] = r.violations;
  d["certificate_failures"] = r.certificate_failures;
  d["num_err_bound_failures"] = r.num_err_bound_failures;
  d["candidates_checked"] = r.candidates_checked;
  d["kv_bytes_frac"] = r.kv_bytes_frac;
  d["records_read_frac"] = r.records_read_frac;
  d["record_bytes_per_token"] = r.record_bytes_per_token;
  d["build_ms"] = r.build_ms;
  d["eval_ms"] = r.eval_ms;
  d["elim_rate"] = dist_dict(r.elim_rate);
  d["oracle_elim_rate"] = dist_dict(r.oracle_elim_rate);
  d["mass_lost"] = dist_dict(r.mass_lost);
  d["mass_bound"] = dist_dict(r.mass_bound);
  d["out_rel_err"] = dist_dict(r.out_rel_err);
  d["fer_topk"] = dist_dict(r.fer_topk);
  d["recall"] = dist_dict(r.recall);
  d["anchor_elim_rate"] = dist_dict(r.anchor_elim_rate);
  // Per (query, query head): the certificate next to the truth.
  const int64_t nh = int64_t(r.heads.size());
  py::array_t<double> mass_lost(nh), mass_bound(nh), out_err(nh), out_err_bound(nh), num_err_bound(nh);
  for (int64_t i = 0; i < nh; ++i) {
    mass_lost.mutable_data()[i] = r.heads[size_t(i)].mass_lost;
    mass_bound.mutable_data()[i] = r.heads[size_t(i)].mass_bound;
    out_err.mutable_data()[i] = r.heads[size_t(i)].out_err;
    out_err_bound.mutable_data()[i] = r.heads[size_t(i)].out_err_bound;
    num_err_bound.mutable_data()[i] = r.heads[size_t(i)].out_num_err_bound;
  }
  const py::ssize_t nq = py::ssize_t(in.n_q()), hq = py::ssize_t(in.n_head_q());
  d["head_mass_lost"] = mass_lost.reshape({nq, hq});
  d["head_mass_bound"] = mass_bound.reshape({nq, hq});
  d["head_out_err"] = out_err.reshape({nq, hq});
  d["head_out_err_bound"] = out_err_bound.reshape({nq, hq});          // elimination: ||o − ô|| (exact arithmetic)
  d["head_out_num_err_bound"] = num_err_bound.reshape({nq, hq});      // float32 arithmetic: ||ô − ô_f32||
  const int64_t ns = int64_t(r.steps.size());
  py::array_t<int64_t> n_cand(ns), n_elim(ns);
  for (int64_t i = 0; i < ns; ++i) {
    n_cand.mutable_data()[i] = r.steps[size_t(i)].n_cand;
    n_elim.mutable_data()[i] = r.steps[size_t(i)].n_elim;
  }
  const py::ssize_t hkv = py::ssize_t(in.n_head_kv());
  d["step_n_cand"] = n_cand.reshape({nq, hkv});
  d["step_n_elim"] = n_elim.reshape({nq, hkv});
  if (keep_arrays) {
    d["upper_bound"] = to_numpy(r.upper_bound);
    d["survivors"] = to_numpy(r.survivors);
    d["output"] = to_numpy(r.output);
  }
  return d;
}

py::dict synth_py(const std::string& kind, int64_t n_kv, int64_t n_q, int64_t n_head_q, int64_t n_head_kv,
                  int64_t d_head, uint64_t seed) {
  SynthSpec s;
  s.kind = kind;
  s.n_kv = n_kv;
  s.n_q = n_q;
  s.n_head_q = n_head_q;
  s.n_head_kv = n_head_kv;
  s.d_head = d_head;
  s.seed = seed;
  validate_synth_spec(s);
  AttnInputs in = make_synthetic(s);
  return inputs_dict(in);
}

// A loaded model with its tokenizer and one engine (KV cache) of its own.
class Model {
 public:
  Model(const std::string& path, const std::string& tokenizer, int64_t max_ctx, int threads)
      : w_(load_model(path)), eng_(w_, EngineOptions{max_ctx, threads}) {
    // A checkpoint without a tokenizer still runs on ids; encode/decode then say why they cannot.
    try {
      tok_ = std::make_unique<Tokenizer>(load_tokenizer_for(path, tokenizer, w_.cfg.n_vocab));
    } catch (const Error& e) {
      tok_error_ = e.what();
    }
  }

  py::dict config() const {
    const ModelConfig& c = w_.cfg;
    py::dict d;
    d["arch"] = c.arch; d["d_model"] = c.d_model; d["n_layer"] = c.n_layer; d["n_head_q"] = c.n_head_q;
    d["n_head_kv"] = c.n_head_kv; d["d_head"] = c.d_head; d["d_ff"] = c.d_ff; d["n_vocab"] = c.n_vocab;
    d["max_pos"] = c.max_pos; d["rope_theta"] = c.rope_theta; d["norm_eps"] = c.norm_eps;
    d["bos_id"] = c.bos_id; d["eos_id"] = c.eos_id; d["max_ctx"] = eng_.max_ctx();
    return d;
  }
  std::vector<int32_t> encode(const std::string& text, bool add_bos) const { return tokenizer().encode(text, add_bos); }
  std::string decode(const std::vector<int32_t>& ids) const { return tokenizer().decode(ids); }
  const Tokenizer& tokenizer() const {
    GKV_CHECK(tok_ != nullptr, str_cat("this model has no tokenizer: ", tok_error_));
    return *tok_;
  }

  // Logits of every position of ids (fresh context) as [n, n_vocab] float32.
  py::array_t<float> logits(const std::vector<int32_t>& ids) {
    GKV_CHECK(!ids.empty(), "logits: empty id list");
    const int64_t n = int64_t(ids.size()), v = w_.cfg.n_vocab;
    py::array_t<float> out({py::ssize_t(n), py::ssize_t(v)});
    float* p = out.mutable_data();
    {
      py::gil_scoped_release release;
      eng_.reset();
      eng_.forward(ids.data(), n, p, n);
    }
    return out;
  }

  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, int64_t max_new, double temperature, uint64_t seed,
                                bool stop_at_eos) {
    SampleOptions so;
    so.max_new = max_new;
    so.temperature = temperature;
    so.seed = seed;
    so.stop_at_eos = stop_at_eos;
    py::gil_scoped_release release;
    eng_.reset();
    return ghostkv::generate(eng_, prompt, so);
  }

  // generate with every layer of every decode step through the witness path (EliminationHook): the ids, and per
  // (decode step, layer) what was attended and what the certificate gave up, checked against float64 attention
  py::dict generate_eliminated(const std::vector<int32_t>& prompt, int64_t max_new, const std::string& policy,
                               const std::string& witness, const std::string& bits, int64_t rank, int64_t n_sink,
                               int64_t n_recent, double temperature, uint64_t seed, bool stop_at_eos) {
    EliminateOptions o;
    o.witness = parse_witness(witness);  // EliminationHook refuses the uncertified ones
    o.policy = parse_policy(policy);
    o.bits = bits;
    o.rank = rank;
    o.n_sink = n_sink;
    o.n_recent = n_recent;
    SampleOptions so;
    so.max_new = max_new;
    so.temperature = temperature;
    so.seed = seed;
    so.stop_at_eos = stop_at_eos;
    EliminationHook hook(w_.cfg, o);
    std::vector<int32_t> ids;
    {
      py::gil_scoped_release release;
      eng_.reset();
      ids = ghostkv::generate(eng_, prompt, so, &hook);
    }
    const std::vector<EliminationLayerStats>& st = hook.stats();
    const py::ssize_t n = py::ssize_t(st.size());
    py::array_t<int64_t> step(n), layer(n), n_kv(n), viol(n), fail(n);
    py::array_t<double> att(n), elim(n), kvb(n), mb(n), ml(n), oe(n);
    for (py::ssize_t i = 0; i < n; ++i) {
      const EliminationLayerStats& x = st[size_t(i)];
      step.mutable_data()[i] = x.step, layer.mutable_data()[i] = x.layer, n_kv.mutable_data()[i] = x.n_kv;
      viol.mutable_data()[i] = x.violations, fail.mutable_data()[i] = x.certificate_failures;
      att.mutable_data()[i] = x.attended_frac, elim.mutable_data()[i] = x.elim_rate, kvb.mutable_data()[i] = x.kv_bytes_frac;
      mb.mutable_data()[i] = x.max_mass_bound, ml.mutable_data()[i] = x.max_mass_lost, oe.mutable_data()[i] = x.max_out_rel_err;
    }
    py::dict d;
    d["ids"] = ids;
    d["step"] = step; d["layer"] = layer; d["n_kv"] = n_kv; d["attended_frac"] = att; d["elim_rate"] = elim;
    d["kv_bytes_frac"] = kvb; d["max_mass_bound"] = mb; d["max_mass_lost"] = ml; d["max_out_rel_err"] = oe;
    d["violations"] = viol; d["certificate_failures"] = fail; d["dense_calls"] = hook.dense_calls();
    return d;
  }

  py::list capture(const std::vector<int32_t>& ids, const std::string& layers, const std::string& queries) {
    const int64_t n = int64_t(ids.size());
    std::vector<int64_t> ls = parse_layers(layers, w_.cfg.n_layer);
    std::vector<int64_t> qp = parse_query_positions(queries, n);
    std::vector<AttnInputs> cap;
    {
      py::gil_scoped_release release;
      cap = capture_layers(eng_, ids, ls, qp);
    }
    py::list out;
    for (size_t i = 0; i < cap.size(); ++i) {
      py::dict d = inputs_dict(cap[i]);
      d["layer"] = ls[i];
      out.append(d);
    }
    return out;
  }

 private:
  LlamaWeights w_;
  Engine eng_;
  std::unique_ptr<Tokenizer> tok_;
  std::string tok_error_;
};

}  // namespace

PYBIND11_MODULE(ghostkv, m) {
  m.doc() = "GhostKV: certified elimination of KV-cache tokens before their K and V are read";
  static py::exception<Error> exc(m, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      exc(e.what());
    }
  });
  m.def("eliminate", &eliminate_py,
        "Certified elimination of one layer's attention inputs (q [n_q, Hq, d], k, v [n_kv, Hkv, d]); "
        "returns the metrics of DESIGN §6 and the per-head certificates as a dict",
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("positions") = py::none(), py::arg("scale") = 0.0,
        py::arg("witness") = "quant", py::arg("policy") = "mass:1e-3", py::arg("bits") = "8", py::arg("group") = 0,
        py::arg("rank") = 16, py::arg("residual_blocks") = 1, py::arg("storage") = "bf16", py::arg("sketch") = "pca",
        py::arg("n_sink") = 4, py::arg("n_recent") = 64, py::arg("two_stage") = 0.0, py::arg("reference") = false,
        py::arg("anchors") = "none", py::arg("anchor_page") = 16, py::arg("anchor_clusters") = 64,
        py::arg("seed") = 0, py::arg("keep_arrays") = false, py::arg("threads") = 0);
  m.def("synth", &synth_py, "Synthetic attention inputs (kind 'structured' or 'gaussian') as a dict of arrays",
        py::arg("kind") = "structured", py::arg("n_kv") = 4096, py::arg("n_q") = 64, py::arg("n_head_q") = 8,
        py::arg("n_head_kv") = 2, py::arg("d_head") = 128, py::arg("seed") = 0);
  py::class_<Model>(m, "Model", "A model (HF folder, GGUF file or llama2.c .bin) with its tokenizer and a KV cache")
      .def(py::init<const std::string&, const std::string&, int64_t, int>(), py::arg("path"),
           py::arg("tokenizer") = "", py::arg("max_ctx") = 0, py::arg("threads") = 0)
      .def_property_readonly("config", &Model::config)
      .def("encode", &Model::encode, py::arg("text"), py::arg("add_bos") = false)
      .def("decode", &Model::decode, py::arg("ids"))
      .def("logits", &Model::logits, "Logits [n, n_vocab] of every position (fresh context)", py::arg("ids"))
      .def("generate", &Model::generate, "Greedy (temperature 0) or sampled continuation ids", py::arg("prompt"),
           py::arg("max_new") = 32, py::arg("temperature") = 0.0, py::arg("seed") = 0, py::arg("stop_at_eos") = true)
      .def("generate_eliminated", &Model::generate_eliminated,
           "Continuation ids with every layer of every decode step through the witness path (certified elimination, "
           "each step checked against float64 attention; the prefill dense), and per (decode step, layer) arrays: "
           "attended_frac, elim_rate, kv_bytes_frac, max_mass_bound, max_mass_lost, max_out_rel_err, violations, "
           "certificate_failures",
           py::arg("prompt"), py::arg("max_new") = 32, py::arg("policy") = "mass:1e-3", py::arg("witness") = "quant",
           py::arg("bits") = "8", py::arg("rank") = 16, py::arg("n_sink") = 4, py::arg("n_recent") = 64,
           py::arg("temperature") = 0.0, py::arg("seed") = 0, py::arg("stop_at_eos") = true)
      .def("capture", &Model::capture,
           "Prefill ids and return each chosen layer's attention inputs (q post-RoPE unscaled at the query "
           "positions; k post-RoPE and v of every position)",
           py::arg("ids"), py::arg("layers") = "all", py::arg("queries") = "last:64");
}
