//===- QuantizedCache.h - 8-bit and narrow-float decode caches -*- C++ -*-===//
//
// The append into, and the reads from, an attn.decode cache whose element
// type is not the new keys' type: int8 / fp8 E4M3 codes with f32 scales per
// (batch row, KV head), or a narrower float. Semantics: docs/AttnDialect.md,
// "Quantised KV caches".
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_QUANTIZEDCACHE_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_QUANTIZEDCACHE_H

#include "mlir/IR/Builders.h"

namespace mlir::attn {

struct Emitter;

/// f32 values (scalar or vector) of 8-bit cache codes: i8 -> its integer,
/// f8E4M3FN -> the E4M3 number (decoded with integer ops: LLVM has no fp8).
Value decodeCacheCodes(Emitter &e, Value codes);

/// `x` (f32 scalar, already divided by the scale) as one cache element of
/// type `element`: i8 clamp(roundeven(x), -127, 127); f8E4M3FN x rounded to
/// nearest even and saturated to +-448; a float type truncated.
Value encodeCacheElement(Emitter &e, Value x, Type element);

/// `v` (f32, as widened from the cache) times scale[b, g] when `scale` is
/// set (a quantised cache), else `v`.
Value applyCacheScale(Emitter &e, Value v, Value scale, Value b, Value g);

/// cache[b, h, position + t, d] = encode(fresh[b, h, t, d] / scale[b, h])
/// for every b (`row` null) or b = `row`; `scale` null for float caches.
/// With `ringSlots` (index W) the slot is (position + t) % W instead: the
/// entries of a ring may wrap around its end.
void appendConverted(Emitter &e, Value fresh, Value cache, Value scale,
                     Value position, Value row, Value ringSlots = Value());

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_QUANTIZEDCACHE_H
