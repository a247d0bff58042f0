#pragma once
// float16 / bfloat16 <-> float32 conversions, with the rounding direction explicit.
// Round-to-nearest-even is for data (K, V, sketches); round-up (toward +inf) is for stored
// norms and error terms, which must never shrink when stored (DESIGN §4.1: "norms rounded up").
// bfloat16 = the top 16 bits of an IEEE float32; float16 = IEEE binary16.
#include <cstdint>

namespace ghostkv {

float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float x);        // nearest-even; NaN stays NaN
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float x);         // nearest-even; overflow -> inf
// Smallest representable value >= x (x finite, >= 0 in our uses; works for any sign).
uint16_t f16_round_up(double x);      // result >= x; +inf when x exceeds the f16 range
uint16_t bf16_round_up(double x);
float f32_round_up(double x);         // smallest float >= x
float f32_round_down(double x);       // largest float <= x

}  // namespace ghostkv
