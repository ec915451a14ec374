//===- HostTensor.cpp - tensors known at import time ----------------------===//

#include "HostTensor.h"

#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ErrorHandling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::attn::onnx_import;

std::optional<DType> mlir::attn::onnx_import::dtypeFromOnnx(int64_t code) {
  switch (code) {
  case 1:
  case 2:
  case 3:
  case 4:
  case 5:
  case 6:
  case 7:
  case 8:
  case 9:
  case 10:
  case 11:
  case 12:
  case 13:
  case 16:
    return static_cast<DType>(code);
  default:
    return std::nullopt;
  }
}

StringRef mlir::attn::onnx_import::dtypeName(DType type) {
  switch (type) {
  case DType::F32:
    return "float32";
  case DType::U8:
    return "uint8";
  case DType::I8:
    return "int8";
  case DType::U16:
    return "uint16";
  case DType::I16:
    return "int16";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  case DType::String:
    return "string";
  case DType::Bool:
    return "bool";
  case DType::F16:
    return "float16";
  case DType::F64:
    return "float64";
  case DType::U32:
    return "uint32";
  case DType::U64:
    return "uint64";
  case DType::BF16:
    return "bfloat16";
  case DType::Undefined:
    break;
  }
  return "undefined";
}

int64_t mlir::attn::onnx_import::dtypeBytes(DType type) {
  switch (type) {
  case DType::Bool:
  case DType::U8:
  case DType::I8:
    return 1;
  case DType::U16:
  case DType::I16:
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::F32:
  case DType::I32:
  case DType::U32:
    return 4;
  case DType::F64:
  case DType::I64:
  case DType::U64:
    return 8;
  case DType::String:
  case DType::Undefined:
    return 0;
  }
  return 0;
}

bool mlir::attn::onnx_import::isFloat(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::BF16 ||
         type == DType::F64;
}

bool mlir::attn::onnx_import::isSignedInt(DType type) {
  return type == DType::I8 || type == DType::I16 || type == DType::I32 ||
         type == DType::I64;
}

bool mlir::attn::onnx_import::isUnsignedInt(DType type) {
  return type == DType::U8 || type == DType::U16 || type == DType::U32 ||
         type == DType::U64;
}

Type mlir::attn::onnx_import::mlirElementType(DType type, MLIRContext *ctx) {
  switch (type) {
  case DType::F32:
    return Float32Type::get(ctx);
  case DType::F16:
    return Float16Type::get(ctx);
  case DType::BF16:
    return BFloat16Type::get(ctx);
  case DType::F64:
    return Float64Type::get(ctx);
  case DType::I8:
    return IntegerType::get(ctx, 8);
  case DType::I16:
    return IntegerType::get(ctx, 16);
  case DType::I32:
    return IntegerType::get(ctx, 32);
  case DType::I64:
    return IntegerType::get(ctx, 64);
  case DType::Bool:
    return IntegerType::get(ctx, 1);
  default:
    return nullptr;
  }
}

int64_t mlir::attn::onnx_import::numElements(ArrayRef<int64_t> shape) {
  // Saturates, so that absurd shapes fail size checks instead of wrapping.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0)
      return 0;
    if (d < 0 || n > std::numeric_limits<int64_t>::max() / d)
      n = std::numeric_limits<int64_t>::max();
    else
      n *= d;
  }
  return n;
}

bool mlir::attn::onnx_import::isValidShape(ArrayRef<int64_t> shape) {
  // Zero sizes count as 1: an empty [0, 2^40, 2^40] still has strides that
  // overflow.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 1 && n > kMaxTensorElements / d))
      return false;
    n *= std::max<int64_t>(d, 1);
  }
  return true;
}

HostTensor::HostTensor(DType dtype, ArrayRef<int64_t> shape)
    : dtype(dtype), shape(shape),
      bytes(size_t(numElements(shape) * dtypeBytes(dtype)), '\0') {}

HostTensor::HostTensor(DType dtype, ArrayRef<int64_t> shape, std::string bytes)
    : dtype(dtype), shape(shape), bytes(std::move(bytes)) {}

namespace {

template <typename T> T load(StringRef bytes, int64_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

template <typename T> void store(std::string &bytes, int64_t i, T v) {
  std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
}

double halfToDouble(uint16_t bits, const llvm::fltSemantics &sem) {
  llvm::APFloat f(sem, llvm::APInt(16, bits));
  bool lost;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return f.convertToDouble();
}

uint16_t doubleToHalf(double v, const llvm::fltSemantics &sem) {
  llvm::APFloat f(v);
  bool lost;
  f.convert(sem, llvm::APFloat::rmNearestTiesToEven, &lost);
  return uint16_t(f.bitcastToAPInt().getZExtValue());
}

} // namespace

int64_t mlir::attn::onnx_import::saturatingToInt(double v) {
  if (std::isnan(v))
    return 0;
  if (v >= 9.2233720368547758e18)
    return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18)
    return std::numeric_limits<int64_t>::min();
  return int64_t(v);
}

double HostTensor::getDouble(int64_t i) const {
  switch (dtype) {
  case DType::F32:
    return load<float>(data(), i);
  case DType::F64:
    return load<double>(data(), i);
  case DType::F16:
    return halfToDouble(load<uint16_t>(data(), i), llvm::APFloat::IEEEhalf());
  case DType::BF16:
    return halfToDouble(load<uint16_t>(data(), i), llvm::APFloat::BFloat());
  case DType::U64:
    return double(load<uint64_t>(data(), i));
  default:
    return double(getInt(i));
  }
}

int64_t HostTensor::getInt(int64_t i) const {
  switch (dtype) {
  case DType::Bool:
    return load<uint8_t>(data(), i) != 0;
  case DType::U8:
    return load<uint8_t>(data(), i);
  case DType::I8:
    return load<int8_t>(data(), i);
  case DType::U16:
    return load<uint16_t>(data(), i);
  case DType::I16:
    return load<int16_t>(data(), i);
  case DType::I32:
    return load<int32_t>(data(), i);
  case DType::U32:
    return load<uint32_t>(data(), i);
  case DType::I64:
    return load<int64_t>(data(), i);
  case DType::U64:
    return int64_t(load<uint64_t>(data(), i));
  default:
    return saturatingToInt(getDouble(i));
  }
}

void HostTensor::setDouble(int64_t i, double v) {
  switch (dtype) {
  case DType::F32:
    return store<float>(bytes, i, float(v));
  case DType::F64:
    return store<double>(bytes, i, v);
  case DType::F16:
    return store<uint16_t>(bytes, i,
                           doubleToHalf(v, llvm::APFloat::IEEEhalf()));
  case DType::BF16:
    return store<uint16_t>(bytes, i, doubleToHalf(v, llvm::APFloat::BFloat()));
  case DType::Bool:
    return store<uint8_t>(bytes, i, v != 0.0);
  default:
    return setInt(i, saturatingToInt(v));
  }
}

void HostTensor::setInt(int64_t i, int64_t v) {
  switch (dtype) {
  case DType::Bool:
    return store<uint8_t>(bytes, i, v != 0);
  case DType::U8:
    return store<uint8_t>(bytes, i, uint8_t(v));
  case DType::I8:
    return store<int8_t>(bytes, i, int8_t(v));
  case DType::U16:
    return store<uint16_t>(bytes, i, uint16_t(v));
  case DType::I16:
    return store<int16_t>(bytes, i, int16_t(v));
  case DType::I32:
    return store<int32_t>(bytes, i, int32_t(v));
  case DType::U32:
    return store<uint32_t>(bytes, i, uint32_t(v));
  case DType::I64:
    return store<int64_t>(bytes, i, v);
  case DType::U64:
    return store<uint64_t>(bytes, i, uint64_t(v));
  default:
    return setDouble(i, double(v));
  }
}

void HostTensor::copyElement(int64_t i, const HostTensor &src, int64_t j) {
  int64_t w = dtypeBytes(dtype);
  std::memcpy(bytes.data() + i * w, src.data().data() + j * w, size_t(w));
}

SmallVector<int64_t> HostTensor::toInts() const {
  SmallVector<int64_t> values;
  values.reserve(size());
  for (int64_t i = 0, e = size(); i < e; ++i)
    values.push_back(getInt(i));
  return values;
}

DenseElementsAttr HostTensor::toAttr(RankedTensorType type) const {
  StringRef elements = data();
  if (dtype == DType::Bool) {
    SmallVector<bool> values;
    values.reserve(size());
    for (int64_t i = 0, e = size(); i < e; ++i)
      values.push_back(elements[i] != 0);
    return DenseElementsAttr::get(type, values);
  }
  return DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(elements.data(), elements.size()));
}

ElementsAttr
mlir::attn::onnx_import::toSharedAttr(std::shared_ptr<const HostTensor> tensor,
                                      RankedTensorType type, StringRef name) {
  StringRef bytes = tensor->data();
  if (tensor->dtype == DType::Bool ||
      int64_t(bytes.size()) < kResourceMinBytes)
    return tensor->toAttr(type);
  // Resource keys are printed bare: keep them identifier-like.
  std::string key = name.empty() ? "constant" : name.str();
  for (char &c : key)
    if (!llvm::isAlnum(c) && c != '_')
      c = '_';
  size_t align = size_t(dtypeBytes(tensor->dtype));
  ArrayRef<char> data(bytes.data(), bytes.size());
  if (reinterpret_cast<uintptr_t>(data.data()) % align != 0)
    return DenseResourceElementsAttr::get(
        type, key, HeapAsmResourceBlob::allocateAndCopyWithAlign(data, align));
  // The deleter owns a reference: the bytes live as long as the blob.
  AsmResourceBlob blob(
      data, align, [owner = std::move(tensor)](void *, size_t, size_t) {},
      /*dataIsMutable=*/false);
  return DenseResourceElementsAttr::get(type, key, std::move(blob));
}
