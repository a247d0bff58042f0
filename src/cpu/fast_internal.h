#pragma once
// Shared by the files of src/cpu: whether the AVX2 (+ FMA, F16C) kernels are in use.
namespace ghostkv::cpu {
bool avx2_active();
}  // namespace ghostkv::cpu
