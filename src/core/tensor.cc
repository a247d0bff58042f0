#include "ghostkv/tensor.h"

#include "ghostkv/half.h"

namespace ghostkv {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: case DType::i64: return 8;
    case DType::f16: case DType::bf16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
  }
  return "?";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t n : shape_) GKV_CHECK(n >= 0, "tensor: negative dimension in shape ", shape_str(shape_));
  size_t n = nbytes();
  buf_.reset(new uint8_t[n > 0 ? n : 1]());
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape_) n *= s;
  return n;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

void Tensor::check_type(DType want) const {
  GKV_ASSERT(want == dtype_, "tensor holds ", dtype_name(dtype_), ", accessed as ", dtype_name(want));
}

template <class Out>
static void convert(const Tensor& in, Out* o) {
  int64_t n = in.numel();
  switch (in.dtype()) {
    case DType::f32: { auto p = in.data<float>(); for (int64_t i = 0; i < n; ++i) o[i] = Out(p[i]); break; }
    case DType::f64: { auto p = in.data<double>(); for (int64_t i = 0; i < n; ++i) o[i] = Out(p[i]); break; }
    case DType::f16: { auto p = in.data_u16(); for (int64_t i = 0; i < n; ++i) o[i] = Out(f16_to_f32(p[i])); break; }
    case DType::bf16: { auto p = in.data_u16(); for (int64_t i = 0; i < n; ++i) o[i] = Out(bf16_to_f32(p[i])); break; }
    case DType::i32: { auto p = in.data<int32_t>(); for (int64_t i = 0; i < n; ++i) o[i] = Out(p[i]); break; }
    case DType::i64: { auto p = in.data<int64_t>(); for (int64_t i = 0; i < n; ++i) o[i] = Out(p[i]); break; }
    case DType::u8: { auto p = in.data<uint8_t>(); for (int64_t i = 0; i < n; ++i) o[i] = Out(p[i]); break; }
  }
}

Tensor Tensor::to_f32() const { Tensor t(DType::f32, shape_); convert(*this, t.data<float>()); return t; }
Tensor Tensor::to_f64() const { Tensor t(DType::f64, shape_); convert(*this, t.data<double>()); return t; }
Tensor Tensor::to_i64() const {
  GKV_CHECK(dtype_ == DType::i32 || dtype_ == DType::i64 || dtype_ == DType::u8,
            "expected an integer tensor, got ", dtype_name(dtype_));
  Tensor t(DType::i64, shape_);
  convert(*this, t.data<int64_t>());
  return t;
}

}  // namespace ghostkv
