//===- AttentionReference.h - scalar oracle for attn ops --------*- C++ -*-===//
//
// A plain C++17 implementation (no MLIR) of the semantics of `attn.attention`
// and `attn.decode`, accumulating in double. Integration tests compare
// compiled code against it; it favours obvious correctness over speed.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCE_ATTENTIONREFERENCE_H
#define ATTN_REFERENCE_ATTENTIONREFERENCE_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attn::ref {

/// A dense row-major tensor of doubles.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape);
  /// Product of `shape` (1 for a scalar).
  int64_t numElements() const;
};

/// How the mask operand is read.
enum class MaskKind {
  None,
  /// Nonzero keeps the key, zero removes it.
  Boolean,
  /// Added to the (softcapped) scaled scores.
  Additive,
};

/// The attributes shared by both ops.
struct AttentionParams {
  int64_t qHeads = 0;
  int64_t kvHeads = 0;
  double scale = 1.0;
  std::optional<double> softcap;
  MaskKind maskKind = MaskKind::None;
  /// Sliding window: the query at position p sees keys [p - left, p + right];
  /// nullopt leaves that side unbounded.
  std::optional<int64_t> windowLeft, windowRight;
};

/// `attn.attention`: query [B,Hq,Sq,D], key [B,Hkv,Skv,D], value
/// [B,Hkv,Skv,Dv]; mask of rank 2, 3 or 4 broadcastable to [B,Hq,Sq,Skv]
/// (read when params.maskKind != None); kvSeqLens of size B (optional).
struct AttentionOperands {
  const Tensor *query = nullptr;
  const Tensor *key = nullptr;
  const Tensor *value = nullptr;
  const Tensor *mask = nullptr;
  const std::vector<int64_t> *kvSeqLens = nullptr;
  /// Key j is allowed for query row i iff j <= i + *causalOffset.
  std::optional<int64_t> causalOffset;
  /// Per batch row (size B): query row i of batch b stands at position
  /// i + rowOffsets[b] instead of i + causalOffset (or i); `rowCausal` makes
  /// it causal there. Windows are relative to the same positions.
  const std::vector<int64_t> *rowOffsets = nullptr;
  bool rowCausal = false;
  /// A decode's tree mask (with rowOffsets and Sq new tokens at
  /// [rowOffsets[b], rowOffsets[b] + Sq)): [Sq, Sq] or [B or 1, Sq, Sq];
  /// key j >= rowOffsets[b] is allowed for row i only where
  /// tree[b, i, j - rowOffsets[b]] is nonzero.
  const Tensor *treeMask = nullptr;
};

/// Computes `out` [B,Hq,Sq,Dv]. Returns false and sets `error` on operands
/// that are inconsistent with each other.
bool computeAttention(const AttentionOperands &operands,
                      const AttentionParams &params, Tensor &out,
                      std::string &error);

/// What a decode cache holds.
enum class CacheKind {
  /// Float values (the append rounds nothing here: the tool's arrays are
  /// already of the cache's type).
  Float,
  /// int8 codes q: the value is q * scale; the append writes
  /// clamp(roundeven(x / scale), -127, 127).
  Int8,
  /// fp8 E4M3FN codes as their byte (0..255): the value is E4M3(byte) *
  /// scale; the append writes x / scale rounded to nearest even E4M3,
  /// saturated to +-448.
  Fp8E4M3,
};

/// The E4M3FN number of byte `code` (0x7f / 0xff are NaN).
double decodeE4M3(int code);
/// The E4M3FN byte nearest to `x` (ties to even), saturating at +-448.
int encodeE4M3(float x);

/// `attn.decode`: appends key/value [B,Hkv,Sn,*] into copies of the caches
/// [B,Hkv,Smax,*] at `position` (or, per batch row b, at (*positions)[b]),
/// then attends over [0, position + Sn) with query row i at absolute
/// position position + Sn - Sq + i (for causal and the window).
struct DecodeOperands {
  const Tensor *query = nullptr;
  const Tensor *key = nullptr;
  const Tensor *value = nullptr;
  const Tensor *mask = nullptr;
  const Tensor *keyCache = nullptr;
  const Tensor *valueCache = nullptr;
  int64_t position = 0;
  /// One position per batch row (size B); overrides `position`.
  const std::vector<int64_t> *positions = nullptr;
  bool causal = false;
  /// Paged caches (needs `positions`): the caches are page pools
  /// [num_pages,Hkv,page_size,*] and position t of row b is slot
  /// t % page_size of page (*blockTable)[b, t / page_size]; the table is
  /// [B, max_pages] and the capacity max_pages * page_size. Entries of the
  /// pages covering [0, positions[b] + Sn) must be pages of the pool.
  const Tensor *blockTable = nullptr;
  /// 8-bit caches: their kind and f32 [B, Hkv] scales (both set iff
  /// cacheKind != Float). The x / scale of the append is an f32 division.
  CacheKind cacheKind = CacheKind::Float;
  const Tensor *keyScale = nullptr;
  const Tensor *valueScale = nullptr;
  /// Optional tree mask over the Sn = Sq new tokens, [Sn, Sn] or
  /// [B or 1, Sn, Sn] (nonzero keeps): new token t is visible to query row i
  /// only where tree[b, i, t]; the keys before the position are not
  /// affected.
  const Tensor *treeMask = nullptr;
  /// Ring caches: [B,Hkv,W,*] hold position t in slot t % W; positions may
  /// exceed W. Positions older than the last W of a row read as NaN here,
  /// so an attention that would see them gives NaN.
  bool ring = false;
  /// Latent (MLA) caches: keyCache is the latent [B,1,Smax,r], valueCache
  /// the rotary key [B,1,Smax,rope]; key row t is [latent[t], rope[t]] and
  /// value row t is latent[t]. Float, contiguous, not ring.
  bool latent = false;
};

struct DecodeResults {
  Tensor out;
  Tensor keyCache;
  Tensor valueCache;
};

/// Computes the three results of `attn.decode` (with a block table: the
/// updated pools). Returns false and sets `error` on inconsistent operands,
/// a position outside the cache or a table entry outside the pool.
bool computeDecode(const DecodeOperands &operands,
                   const AttentionParams &params, DecodeResults &results,
                   std::string &error);

} // namespace attn::ref

#endif // ATTN_REFERENCE_ATTENTIONREFERENCE_H
