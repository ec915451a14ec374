//===- HugePages.h - large fit buffers on transparent huge pages -*- C++ -*-===//
//
// Internal to lib/Calibration: an allocator for the joint fit's large
// vectors (L-BFGS's pairs: 20 of 1.5 MB per SmolLM2-135M layer, read twice
// per step). Where transparent huge pages are on request only (Linux
// `madvise` mode, the usual default), 4 KiB pages make each pass over the
// pairs a stream of TLB misses (nested page walks under a hypervisor); a
// buffer of 1 MiB or more is aligned to 2 MiB and asks for huge pages.
// Placement only: the numbers are the same.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CALIBRATION_HUGEPAGES_H
#define ATTN_LIB_CALIBRATION_HUGEPAGES_H

#include <cstddef>
#include <cstdlib>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace attn::calib {

template <typename T> struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t(1) << 21, kLarge = size_t(1) << 20;

  HugePageAllocator() = default;
  template <typename U> HugePageAllocator(const HugePageAllocator<U> &) {}

  T *allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    void *p = nullptr;
    if (bytes >= kLarge) {
      size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
      p = std::aligned_alloc(kHuge, size);
#ifdef __linux__
      if (p)
        madvise(p, size, MADV_HUGEPAGE); // a hint: failure is harmless
#endif
    } else {
      p = std::malloc(bytes ? bytes : 1);
    }
    if (!p)
      throw std::bad_alloc();
    return static_cast<T *>(p);
  }
  void deallocate(T *p, size_t) { std::free(p); }

  template <typename U> bool operator==(const HugePageAllocator<U> &) const {
    return true;
  }
  template <typename U> bool operator!=(const HugePageAllocator<U> &) const {
    return false;
  }
};

} // namespace attn::calib

#endif // ATTN_LIB_CALIBRATION_HUGEPAGES_H
