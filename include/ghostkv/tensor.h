#pragma once
// Tensors: a move-only owner (Tensor) of a contiguous C-order buffer and light views.
// Shapes are listed in memory order, outermost first: K is [n_kv, n_head_kv, d_head].
// Element types are those the .npy files of the project carry (see io/npy.h); bfloat16 is kept
// as raw uint16 bits (the top 16 bits of a float32).
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ghostkv/error.h"

namespace ghostkv {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, u8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

std::string shape_str(const std::vector<int64_t>& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, std::vector<int64_t> shape);  // zero-filled
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor clone() const;

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int ndim() const { return int(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(size_t(i < 0 ? i + ndim() : i)); }
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool empty() const { return numel() == 0; }

  void* raw() { return buf_.get(); }
  const void* raw() const { return buf_.get(); }
  template <class T> T* data() { check_type(dtype_of<T>()); return reinterpret_cast<T*>(buf_.get()); }
  template <class T> const T* data() const { check_type(dtype_of<T>()); return reinterpret_cast<const T*>(buf_.get()); }
  uint16_t* data_u16() { GKV_ASSERT(dtype_size(dtype_) == 2); return reinterpret_cast<uint16_t*>(buf_.get()); }
  const uint16_t* data_u16() const { GKV_ASSERT(dtype_size(dtype_) == 2); return reinterpret_cast<const uint16_t*>(buf_.get()); }

  // Value conversions (f16/bf16 widen exactly; f64 -> f32 rounds to nearest; integers convert).
  Tensor to_f32() const;
  Tensor to_f64() const;
  Tensor to_i64() const;  // integer dtypes only

 private:
  void check_type(DType want) const;
  DType dtype_ = DType::f32;
  std::vector<int64_t> shape_;
  std::unique_ptr<uint8_t[]> buf_;
};

}  // namespace ghostkv
