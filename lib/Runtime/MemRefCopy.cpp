//===- MemRefCopy.cpp - memrefCopy for strided memref.copy ----------------===//
//
// `finalize-memref-to-llvm` lowers a `memref.copy` between non-contiguous
// memrefs to a call of `memrefCopy`, which MLIR's C runner utilities
// provide. Compiled models must not need those, so the runtime has its own.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>
#include <vector>

namespace {
struct UnrankedDescriptor {
  int64_t rank;
  void *descriptor;
};
/// The head of a ranked descriptor; sizes then strides follow `offset`.
struct RankedHead {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[1];
};
} // namespace

extern "C" __attribute__((visibility("default"))) void
memrefCopy(int64_t elementSize, UnrankedDescriptor *srcArg,
           UnrankedDescriptor *dstArg) {
  const int64_t rank = srcArg->rank;
  auto *src = static_cast<RankedHead *>(srcArg->descriptor);
  auto *dst = static_cast<RankedHead *>(dstArg->descriptor);
  char *srcBase = src->aligned + src->offset * elementSize;
  char *dstBase = dst->aligned + dst->offset * elementSize;
  if (rank == 0) {
    std::memcpy(dstBase, srcBase, size_t(elementSize));
    return;
  }
  const int64_t *sizes = src->sizesAndStrides;
  const int64_t *srcStrides = src->sizesAndStrides + rank;
  const int64_t *dstStrides = dst->sizesAndStrides + rank;
  for (int64_t d = 0; d < rank; ++d)
    if (sizes[d] == 0)
      return;

  // Walk the index space in row-major order, keeping byte offsets.
  std::vector<int64_t> index(size_t(rank), 0);
  int64_t srcOffset = 0, dstOffset = 0;
  while (true) {
    std::memcpy(dstBase + dstOffset, srcBase + srcOffset, size_t(elementSize));
    int64_t d = rank - 1;
    for (; d >= 0; --d) {
      srcOffset += srcStrides[d] * elementSize;
      dstOffset += dstStrides[d] * elementSize;
      if (++index[d] < sizes[d])
        break;
      srcOffset -= sizes[d] * srcStrides[d] * elementSize;
      dstOffset -= sizes[d] * dstStrides[d] * elementSize;
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}
