//===- DeviceBuffers.h - attn-run's device copies of CUDA buffers -*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_RUN_DEVICEBUFFERS_H
#define ATTN_TOOLS_ATTN_RUN_DEVICEBUFFERS_H

#include "attn-c/Runtime.h"

#include <vector>

namespace attn::run {

/// A CUDA model takes device pointers: this moves the host buffers of a
/// run to the device and back. For a CPU model it does nothing.
class DeviceBuffers {
public:
  explicit DeviceBuffers(AttnModel *model);
  ~DeviceBuffers();
  DeviceBuffers(const DeviceBuffers &) = delete;
  DeviceBuffers &operator=(const DeviceBuffers &) = delete;

  /// Copies the buffers to fresh device memory and replaces the pointers
  /// in the vectors by the device ones (dies on a CUDA error).
  void toDevice(std::vector<const void *> &inputs, std::vector<void *> &inouts,
                std::vector<void *> &outputs);
  /// Copies the inouts and outputs back and restores the host pointers.
  void toHost(std::vector<void *> &inouts, std::vector<void *> &outputs);

private:
  AttnModel *model;
  bool cuda;
  std::vector<void *> allocated;
  std::vector<void *> hostInouts, hostOutputs;
};

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_DEVICEBUFFERS_H
