//===- DeviceBuffers.cpp - attn-run's device copies of CUDA buffers -------===//

#include "DeviceBuffers.h"

#include "RunSupport.h"

#include <string>

using namespace attn::run;

namespace {

/// Device copies of `host` (sizes from `infos`), appended to `allocated`.
template <typename Ptr>
void mirror(const std::vector<AttnTensorInfo> &infos, std::vector<Ptr> &ptrs,
            std::vector<void *> &allocated) {
  for (size_t i = 0; i < infos.size(); ++i) {
    void *device = nullptr;
    if (attnCudaMalloc(size_t(infos[i].num_bytes), &device) != ATTN_OK)
      die(std::string("cannot allocate '") + infos[i].name +
          "' on the GPU: " + attnGetLastError());
    allocated.push_back(device);
    if (attnCudaMemcpy(device, ptrs[i], size_t(infos[i].num_bytes)) != ATTN_OK)
      die(std::string("cannot copy '") + infos[i].name +
          "' to the GPU: " + attnGetLastError());
    ptrs[i] = device;
  }
}

void copyBack(const std::vector<AttnTensorInfo> &infos,
              const std::vector<void *> &device,
              const std::vector<void *> &host) {
  for (size_t i = 0; i < infos.size(); ++i)
    if (attnCudaMemcpy(host[i], device[i], size_t(infos[i].num_bytes)) !=
        ATTN_OK)
      die(std::string("cannot copy '") + infos[i].name +
          "' from the GPU: " + attnGetLastError());
}

} // namespace

DeviceBuffers::DeviceBuffers(AttnModel *model)
    : model(model), cuda(attnModelGetDevice(model) == ATTN_DEVICE_CUDA) {}

DeviceBuffers::~DeviceBuffers() {
  for (void *p : allocated)
    attnCudaFree(p);
}

void DeviceBuffers::toDevice(std::vector<const void *> &inputs,
                             std::vector<void *> &inouts,
                             std::vector<void *> &outputs) {
  if (!cuda)
    return;
  hostInouts = inouts;
  hostOutputs = outputs;
  mirror(tensorInfos(model, TensorKind::Input), inputs, allocated);
  mirror(tensorInfos(model, TensorKind::Inout), inouts, allocated);
  mirror(tensorInfos(model, TensorKind::Output), outputs, allocated);
}

void DeviceBuffers::toHost(std::vector<void *> &inouts,
                           std::vector<void *> &outputs) {
  if (!cuda)
    return;
  copyBack(tensorInfos(model, TensorKind::Inout), inouts, hostInouts);
  copyBack(tensorInfos(model, TensorKind::Output), outputs, hostOutputs);
  inouts = hostInouts;
  outputs = hostOutputs;
}
