//===- ExternalFingerprint.h - stamp of an external data file ---*- C++ -*-===//
//
// The fingerprint in a `params-external` signature line (docs/runtime-abi.md):
// FNV-1a 64 over the file size, the first 4 KiB of every MiB and the last
// 4 KiB. Header-only and free of LLVM, because the compiler computes it and
// libAttnRuntime (which links no LLVM) checks it at every load.
//
// Why sampled and not a full hash: checking must cost O(size / 1 MiB) page
// reads at load, not a read of gigabytes; size + mtime is not used because
// copying or regenerating identical bytes changes the mtime. Every MiB is
// sampled, so a rewritten tensor of 1 MiB or more is caught; the compiler
// also compares every referenced byte range with the file when it compiles.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_EXTERNALFINGERPRINT_H
#define ATTN_SUPPORT_EXTERNALFINGERPRINT_H

#include <cstddef>
#include <cstdint>

// Global names with a prefix: the compiler's `mlir::attn` and the runtime's
// `attn::rt` both include this header.
constexpr uint64_t kAttnFingerprintStride = 1 << 20;
constexpr uint64_t kAttnFingerprintSample = 4096;

inline uint64_t attnFnv1a(uint64_t hash, const unsigned char *data, size_t size) {
  for (size_t i = 0; i < size; ++i)
    hash = (hash ^ data[i]) * 0x100000001b3ull;
  return hash;
}

/// The fingerprint of the `size` bytes at `data` (a mapping of the file).
inline uint64_t attnExternalFingerprint(const void *data, uint64_t size) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  uint64_t hash = 0xcbf29ce484222325ull;
  unsigned char sizeBytes[8];
  for (int i = 0; i < 8; ++i)
    sizeBytes[i] = (unsigned char)(size >> (8 * i));
  hash = attnFnv1a(hash, sizeBytes, 8);
  for (uint64_t at = 0; at < size; at += kAttnFingerprintStride)
    hash = attnFnv1a(hash, bytes + at,
                     size_t(size - at < kAttnFingerprintSample
                                ? size - at
                                : kAttnFingerprintSample));
  uint64_t tail = size < kAttnFingerprintSample ? size : kAttnFingerprintSample;
  return attnFnv1a(hash, bytes + size - tail, size_t(tail));
}

#endif // ATTN_SUPPORT_EXTERNALFINGERPRINT_H
