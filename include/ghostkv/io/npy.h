#pragma once
// NumPy .npy files (format versions 1.0-3.0 read, 1.0 written), C order only, little-endian.
// dtypes: float32 '<f4', float64 '<f8', float16 '<f2', int32 '<i4', int64 '<i8', uint8 '|u1'.
// bfloat16 convention: numpy has no bfloat16, so a bf16 tensor is written as '<u2' whose values
// are the raw bf16 bits (the top 16 bits of the float32); on reading, '<u2' and the 2-byte void
// types ml_dtypes uses ('<V2', '|V2') are taken as bfloat16. In Python:
//   np.load(f).astype(np.uint32) << 16 viewed as float32 gives the values back.
// Writing is atomic: the file appears complete under its name or not at all.
#include <string>

#include "ghostkv/tensor.h"

namespace ghostkv {

Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);

// Write `bytes` to `path` atomically (temporary file in the same folder, then rename).
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace ghostkv
