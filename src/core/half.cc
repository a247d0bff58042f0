#include "ghostkv/half.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace ghostkv {

static uint32_t bits_of(float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; }
static float float_of(uint32_t u) { float x; std::memcpy(&x, &u, 4); return x; }

float bf16_to_f32(uint16_t h) { return float_of(uint32_t(h) << 16); }

uint16_t f32_to_bf16(float x) {
  uint32_t u = bits_of(x);
  if (std::isnan(x)) return uint16_t((u >> 16) | 0x40);  // quiet NaN, sign kept
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: value = man * 2^-24, exact in float32
    float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (man << 13));
  return float_of(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t f32_to_f16(float x) {
  uint32_t u = bits_of(x);
  uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  float a = std::fabs(x);
  if (std::isnan(x)) return uint16_t(sign | 0x7e00u);
  if (a >= 65520.0f) return uint16_t(sign | 0x7c00u);  // rounds to inf
  if (a < std::ldexp(1.0f, -14)) {
    // subnormal range: multiples of 2^-24; nearbyint rounds half to even
    float m = std::nearbyint(a * std::ldexp(1.0f, 24));
    return uint16_t(sign | uint16_t(m));  // m may be 1024 == smallest normal: bit pattern still right
  }
  uint32_t au = bits_of(a);
  uint32_t exp = (au >> 23) - 112u;
  uint32_t man = au & 0x7fffffu;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;  // carry into exponent is correct
  return uint16_t(sign | h);
}

static uint16_t next_up_bits16(uint16_t h, uint16_t inf_bits) {
  // next representable value toward +inf for sign-magnitude 16-bit formats
  if (h == 0x8000u) return 1;                  // -0 -> smallest positive
  if (h & 0x8000u) return uint16_t(h - 1);     // negative: magnitude shrinks
  if (h == inf_bits) return h;
  return uint16_t(h + 1);
}

uint16_t f16_round_up(double x) {
  if (std::isnan(x)) return 0x7e00u;
  if (x > 65504.0) return 0x7c00u;
  uint16_t h = f32_to_f16(float(x));
  while (!(double(f16_to_f32(h)) >= x)) h = next_up_bits16(h, 0x7c00u);
  return h;
}

uint16_t bf16_round_up(double x) {
  if (std::isnan(x)) return 0x7fc0u;
  uint16_t h = f32_to_bf16(float(x));
  while (!(double(bf16_to_f32(h)) >= x)) h = next_up_bits16(h, 0x7f80u);
  return h;
}

float f32_round_up(double x) {
  float f = float(x);
  if (double(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

float f32_round_down(double x) {
  float f = float(x);
  if (double(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

}  // namespace ghostkv
