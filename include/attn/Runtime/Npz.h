//===- Npz.h - read and write NumPy .npz archives ---------------*- C++ -*-===//
//
// Part of libAttnRuntime (no LLVM dependency). Reads archives written by
// np.savez and np.savez_compressed (stored or deflated members, zip64, .npy
// format versions 1-3, little-endian, C order) and writes uncompressed ones
// that np.load reads.
//
// bfloat16 is not a NumPy dtype. Reading maps the descrs '<V2' (what
// ml_dtypes.bfloat16 arrays are saved as), '<u2' and 'bfloat16' to BF16, so a
// bf16 tensor can be passed as a uint16 array holding the same bits; writing
// stores BF16 as '<u2' (view it with `.view(ml_dtypes.bfloat16)`).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_NPZ_H
#define ATTN_RUNTIME_NPZ_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#define ATTN_NPZ_API __attribute__((visibility("default")))

namespace attn::rt {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

/// "f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool".
ATTN_NPZ_API const char *dtypeName(DType dtype);
/// Bytes per element (1 for Bool).
ATTN_NPZ_API size_t dtypeSize(DType dtype);

/// One array of an archive: dense, C order, little-endian bytes.
struct Array {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  /// Product of `shape` (1 for a scalar).
  ATTN_NPZ_API size_t numElements() const;
};

/// Reads every array of the archive at `path`, in archive order. On any
/// malformed, truncated or unsupported input returns false and sets `error`.
ATTN_NPZ_API bool readNpz(const std::string &path, std::vector<Array> &arrays,
                          std::string &error);

/// Writes `arrays` as an uncompressed archive: to a temporary file next to
/// `path`, renamed over `path` on success, so a failure leaves no partial
/// output. Each array's data must hold numElements() * dtypeSize() bytes.
ATTN_NPZ_API bool writeNpz(const std::string &path,
                           const std::vector<Array> &arrays,
                           std::string &error);

} // namespace attn::rt

#endif // ATTN_RUNTIME_NPZ_H
