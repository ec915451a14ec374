//===- TensorIO.cpp - npz arrays to and from reference tensors ------------===//

#include "TensorIO.h"

#include <cmath>
#include <cstring>

using namespace attn;

static double halfToDouble(uint16_t bits) {
  int sign = bits >> 15, exponent = (bits >> 10) & 0x1f,
      mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(mantissa, -24);
  else if (exponent == 31)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = std::ldexp(mantissa + 1024, exponent - 25);
  return sign ? -magnitude : magnitude;
}

static double bf16ToDouble(uint16_t bits) {
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

template <typename T> static T load(const uint8_t *p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T> static void store(uint8_t *p, T value) {
  std::memcpy(p, &value, sizeof(T));
}

ref::Tensor reftool::toTensor(const rt::Array &array) {
  ref::Tensor tensor(array.shape);
  size_t size = rt::dtypeSize(array.dtype);
  for (size_t i = 0, e = array.numElements(); i < e; ++i) {
    const uint8_t *p = &array.data[i * size];
    double &x = tensor.data[i];
    switch (array.dtype) {
    case rt::DType::F32:
      x = load<float>(p);
      break;
    case rt::DType::F64:
      x = load<double>(p);
      break;
    case rt::DType::F16:
      x = halfToDouble(load<uint16_t>(p));
      break;
    case rt::DType::BF16:
      x = bf16ToDouble(load<uint16_t>(p));
      break;
    case rt::DType::I64:
      x = double(load<int64_t>(p));
      break;
    case rt::DType::I32:
      x = load<int32_t>(p);
      break;
    case rt::DType::I16:
      x = load<int16_t>(p);
      break;
    case rt::DType::I8:
      x = load<int8_t>(p);
      break;
    case rt::DType::U8:
      x = load<uint8_t>(p);
      break;
    case rt::DType::Bool:
      x = *p != 0;
      break;
    }
  }
  return tensor;
}

rt::Array reftool::fromTensor(const std::string &name,
                              const ref::Tensor &tensor, rt::DType dtype) {
  if (dtype != rt::DType::F64 && dtype != rt::DType::I64 &&
      dtype != rt::DType::I32 && dtype != rt::DType::I8 &&
      dtype != rt::DType::U8 && dtype != rt::DType::Bool)
    dtype = rt::DType::F32;
  rt::Array array;
  array.name = name;
  array.dtype = dtype;
  array.shape = tensor.shape;
  size_t size = rt::dtypeSize(dtype);
  array.data.resize(tensor.data.size() * size);
  for (size_t i = 0; i < tensor.data.size(); ++i) {
    uint8_t *p = &array.data[i * size];
    double x = tensor.data[i];
    switch (dtype) {
    case rt::DType::F64:
      store<double>(p, x);
      break;
    case rt::DType::I64:
      store<int64_t>(p, int64_t(x));
      break;
    case rt::DType::I32:
      store<int32_t>(p, int32_t(x));
      break;
    case rt::DType::I8: // int8 cache codes
      store<int8_t>(p, int8_t(x));
      break;
    case rt::DType::U8: // fp8 cache bytes
      store<uint8_t>(p, uint8_t(x));
      break;
    case rt::DType::Bool:
      *p = x != 0;
      break;
    default:
      store<float>(p, float(x));
      break;
    }
  }
  return array;
}
