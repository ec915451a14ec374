//===- ModelLoader.cpp - read ONNX protobufs and tensor data --------------===//

#include "ModelLoader.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <climits>
#include <cstring>

using namespace mlir;
using namespace mlir::attn::onnx_import;

LogicalResult mlir::attn::onnx_import::loadModel(StringRef path,
                                                 onnx::ModelProto &model,
                                                 std::string &error) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (std::error_code ec = file.getError()) {
    error = "cannot read '" + path.str() + "': " + ec.message();
    return failure();
  }
  return parseModel((*file)->getBuffer(), path, model, error);
}

LogicalResult mlir::attn::onnx_import::parseModel(StringRef data,
                                                  StringRef path,
                                                  onnx::ModelProto &model,
                                                  std::string &error) {
  if (data.empty()) {
    error = "'" + path.str() + "' is empty, not an ONNX model";
    return failure();
  }
  if (data.size() > size_t(INT_MAX)) {
    error = "'" + path.str() +
            "' is larger than 2 GiB; protobuf cannot parse it (store the "
            "weights as external data)";
    return failure();
  }
  if (!model.ParseFromArray(data.data(), int(data.size()))) {
    error = "cannot parse '" + path.str() +
            "' as an ONNX model: the file is truncated or not a ModelProto";
    return failure();
  }
  if (!model.has_graph() || model.opset_import_size() == 0) {
    error = "'" + path.str() + "' is not an ONNX model: it has no " +
            (model.has_graph() ? "opset_import" : "graph") +
            " (truncated or a different protobuf?)";
    return failure();
  }
  return success();
}

namespace {

/// Checks dims and returns the element count.
LogicalResult checkDims(const onnx::TensorProto &proto, int64_t &count,
                        std::string &error) {
  for (int64_t d : proto.dims())
    if (d < 0) {
      error = "has a negative dimension (" + std::to_string(d) + ")";
      return failure();
    }
  // A corrupt dims field must not turn into a huge allocation, nor into
  // overflowing strides of an empty tensor.
  SmallVector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  if (!isValidShape(shape)) {
    error = "has too many elements";
    return failure();
  }
  count = numElements(shape);
  return success();
}

/// Reads `length` bytes at `offset` of the external file into `tensor`:
/// large ones stay in the (mapped) buffer, read-only and not copied.
LogicalResult readExternal(const onnx::TensorProto &proto, StringRef modelDir,
                           int64_t expected, HostTensor &tensor,
                           std::string &error) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const onnx::StringStringEntryProto &entry : proto.external_data()) {
    StringRef key = entry.key(), value = entry.value();
    if (key == "location") {
      location = entry.value();
    } else if (key == "offset" || key == "length") {
      int64_t parsed;
      if (value.getAsInteger(10, parsed) || parsed < 0) {
        error =
            "has a bad external data " + key.str() + " '" + value.str() + "'";
        return failure();
      }
      (key == "offset" ? offset : length) = parsed;
    }
  }
  if (location.empty()) {
    error = "has external data without a location";
    return failure();
  }
  if (llvm::sys::path::is_absolute(location) ||
      llvm::is_contained(llvm::make_range(llvm::sys::path::begin(location),
                                          llvm::sys::path::end(location)),
                         "..")) {
    error = "has external data at '" + location +
            "', outside the model's directory";
    return failure();
  }
  if (length < 0)
    length = expected;
  if (length != expected) {
    error = "has " + std::to_string(length) + " bytes of external data, but " +
            "its dims and type need " + std::to_string(expected);
    return failure();
  }
  SmallString<256> file(modelDir);
  llvm::sys::path::append(file, location);
  uint64_t fileSize;
  if (std::error_code ec = llvm::sys::fs::file_size(file, fileSize)) {
    error = "has external data in '" + std::string(file) +
            "', which cannot be read: " + ec.message();
    return failure();
  }
  if (uint64_t(offset) > fileSize || uint64_t(length) > fileSize - offset) {
    error = "has external data at bytes [" + std::to_string(offset) + ", " +
            std::to_string(offset + length) + ") of '" + std::string(file) +
            "', which has only " + std::to_string(fileSize) + " bytes";
    return failure();
  }
  if (length == 0) {
    tensor.bytes.clear();
    return success();
  }
  auto buffer = llvm::MemoryBuffer::getFileSlice(file, length, offset,
                                                 /*IsVolatile=*/false);
  if (std::error_code ec = buffer.getError()) {
    error = "has external data in '" + std::string(file) +
            "', which cannot be read: " + ec.message();
    return failure();
  }
  if ((*buffer)->getBufferSize() != size_t(length)) {
    error = "has external data in '" + std::string(file) + "' that ends early";
    return failure();
  }
  if (length >= kResourceMinBytes) {
    tensor.mapped = std::move(*buffer);
    SmallString<256> absolute(file);
    if (!llvm::sys::fs::make_absolute(absolute)) {
      llvm::sys::path::remove_dots(absolute, /*remove_dot_dot=*/true);
      tensor.externalFile = std::string(absolute);
      tensor.externalOffset = offset;
    }
  }
  else
    tensor.bytes.assign((*buffer)->getBufferStart(), size_t(length));
  return success();
}

} // namespace

static LogicalResult decodeTensor(const onnx::TensorProto &proto,
                                  StringRef modelDir, HostTensor &tensor,
                                  std::string &error, std::string *rawData) {
  std::optional<DType> dtype = dtypeFromOnnx(proto.data_type());
  if (!dtype || *dtype == DType::String) {
    error = "has an unsupported element type (ONNX data type " +
            std::to_string(proto.data_type()) + ")";
    return failure();
  }
  if (proto.has_segment()) {
    error = "is segmented, which is not supported";
    return failure();
  }
  int64_t count;
  if (failed(checkDims(proto, count, error)))
    return failure();
  tensor.dtype = *dtype;
  tensor.shape.assign(proto.dims().begin(), proto.dims().end());
  int64_t width = dtypeBytes(*dtype);
  int64_t expected = count * width;

  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    return readExternal(proto, modelDir, expected, tensor, error);

  if (proto.has_raw_data()) {
    if (int64_t(proto.raw_data().size()) != expected) {
      error = "has " + std::to_string(proto.raw_data().size()) +
              " bytes of raw data, but its dims and type need " +
              std::to_string(expected);
      return failure();
    }
    if (rawData)
      tensor.bytes.swap(*rawData);
    else
      tensor.bytes = proto.raw_data();
    return success();
  }

  // Typed fields: the value count is checked before anything is allocated.
  auto [fieldName, fieldSize] = [&]() -> std::pair<StringRef, int64_t> {
    switch (*dtype) {
    case DType::F32:
      return {"float_data", proto.float_data_size()};
    case DType::F64:
      return {"double_data", proto.double_data_size()};
    case DType::I64:
      return {"int64_data", proto.int64_data_size()};
    case DType::U32:
    case DType::U64:
      return {"uint64_data", proto.uint64_data_size()};
    default:
      return {"int32_data", proto.int32_data_size()};
    }
  }();
  if (fieldSize != count) {
    error = "has " + std::to_string(fieldSize) + " values in " +
            fieldName.str() + " but its dims need " + std::to_string(count);
    return failure();
  }
  tensor.bytes.assign(size_t(expected), '\0');
  // An empty repeated field has no storage: memcpy from its null data is
  // undefined even for 0 bytes.
  if (count == 0)
    return success();
  switch (*dtype) {
  case DType::F32:
    std::memcpy(tensor.bytes.data(), proto.float_data().data(), expected);
    return success();
  case DType::F64:
    std::memcpy(tensor.bytes.data(), proto.double_data().data(), expected);
    return success();
  case DType::I64:
    std::memcpy(tensor.bytes.data(), proto.int64_data().data(), expected);
    return success();
  case DType::U32:
  case DType::U64:
    for (int64_t i = 0; i < count; ++i)
      tensor.setInt(i, int64_t(proto.uint64_data(i)));
    return success();
  case DType::F16:
  case DType::BF16: {
    // 16-bit floats travel as their bit patterns in int32_data.
    for (int64_t i = 0; i < count; ++i) {
      uint16_t bits = uint16_t(proto.int32_data(i));
      std::memcpy(tensor.bytes.data() + 2 * i, &bits, 2);
    }
    return success();
  }
  default:
    for (int64_t i = 0; i < count; ++i)
      tensor.setInt(i, proto.int32_data(i));
    return success();
  }
}

LogicalResult
mlir::attn::onnx_import::readTensor(const onnx::TensorProto &proto,
                                    StringRef modelDir, HostTensor &tensor,
                                    std::string &error) {
  return decodeTensor(proto, modelDir, tensor, error, /*rawData=*/nullptr);
}

LogicalResult mlir::attn::onnx_import::consumeTensor(onnx::TensorProto &proto,
                                                     StringRef modelDir,
                                                     HostTensor &tensor,
                                                     std::string &error) {
  return decodeTensor(proto, modelDir, tensor, error,
                      proto.has_raw_data() ? proto.mutable_raw_data()
                                           : nullptr);
}
