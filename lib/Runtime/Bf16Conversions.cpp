//===- Bf16Conversions.cpp - f32/f64 to bf16 for CPUs without bf16 -------===//
//
// On CPUs without native bf16 conversion, LLVM lowers `fptrunc` to bf16 to
// calls of compiler-rt's __truncsfbf2/__truncdfbf2, which the libgcc of
// older toolchains (GCC 12) lacks. Compiled models link against the runtime,
// so it provides them: round to nearest even, NaNs stay (quiet) NaNs.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__aarch64__)

namespace {

/// bf16 travels in a floating-point register like _Float16.
_Float16 fromBits(uint16_t bits) {
  _Float16 value;
  std::memcpy(&value, &bits, sizeof(bits));
  return value;
}

uint16_t floatToBf16Bits(uint32_t bits) {
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

} // namespace

extern "C" __attribute__((visibility("default"))) _Float16
__truncsfbf2(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return fromBits(floatToBf16Bits(bits));
}

extern "C" __attribute__((visibility("default"))) _Float16
__truncdfbf2(double value) {
  // Round to odd on the way to f32, so the second rounding is exact.
  float f = float(value);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if (std::isfinite(f) && double(f) != value) {
    if (std::fabs(double(f)) > std::fabs(value))
      bits -= 1; // truncate toward zero
    bits |= 1u;  // sticky
  }
  return fromBits(floatToBf16Bits(bits));
}

#endif
