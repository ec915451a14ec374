//===- ModelLoader.h - read ONNX protobufs and tensor data ------*- C++ -*-===//
//
// Parsing of the ModelProto and decoding of TensorProtos (raw bytes, typed
// fields, external data files) into HostTensors, with checks that turn
// malformed input into messages instead of crashes.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_MODELLOADER_H
#define ATTN_LIB_IMPORT_MODELLOADER_H

#include "HostTensor.h"

#include "mlir/Support/LogicalResult.h"

#include <onnx/onnx_pb.h>

#include <string>

namespace mlir::attn::onnx_import {

/// Reads and parses the model file; `error` says why on failure.
LogicalResult loadModel(llvm::StringRef path, onnx::ModelProto &model,
                        std::string &error);
/// Parses a model held in memory; `path` only names it in messages.
LogicalResult parseModel(llvm::StringRef data, llvm::StringRef path,
                         onnx::ModelProto &model, std::string &error);

/// Decodes `proto` into `tensor`. External data is read relative to
/// `modelDir`. `error` says why on failure (without the tensor's name).
LogicalResult readTensor(const onnx::TensorProto &proto,
                         llvm::StringRef modelDir, HostTensor &tensor,
                         std::string &error);
/// The same, moving raw_data out of `proto` instead of copying it (weights
/// then exist once in host memory, not twice).
LogicalResult consumeTensor(onnx::TensorProto &proto, llvm::StringRef modelDir,
                            HostTensor &tensor, std::string &error);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_MODELLOADER_H
