//===- ConstantBytes.h - the stored bytes of a constant tensor --*- C++ -*-===//
//
// Weights reach the passes either as DenseElementsAttr or, when large, as
// DenseResourceElementsAttr (a blob the importer does not copy). Code that
// reads weight values at compile time goes through this accessor so that
// both kinds work and neither is expanded element by element.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_SUPPORT_CONSTANTBYTES_H
#define ATTN_SUPPORT_CONSTANTBYTES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <optional>

namespace mlir::attn {

/// A constant's elements as stored: row-major, little-endian, `elementBytes`
/// bytes each. When `splat`, `data` holds one element that all repeat.
struct ConstantBytes {
  llvm::ArrayRef<char> data;
  int64_t elementBytes = 0;
  bool splat = false;

  int64_t numBytes(int64_t numElements) const {
    return numElements * elementBytes;
  }
};

/// The bytes of `attr` when its elements are integers or floats of a whole
/// number of bytes (not i1, which DenseElementsAttr packs, nor index) and
/// its data is present; std::nullopt otherwise.
inline std::optional<ConstantBytes> getConstantBytes(ElementsAttr attr) {
  Type elementType = attr.getElementType();
  if (!elementType.isIntOrFloat() || elementType.isIndex())
    return std::nullopt;
  unsigned bits = elementType.getIntOrFloatBitWidth();
  if (bits % 8 != 0)
    return std::nullopt;
  ConstantBytes bytes;
  bytes.elementBytes = bits / 8;
  int64_t expected = attr.getNumElements() * bytes.elementBytes;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    bytes.data = dense.getRawData();
    bytes.splat = dense.isSplat();
    if (!bytes.splat && int64_t(bytes.data.size()) != expected)
      return std::nullopt;
    return bytes;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || int64_t(blob->getData().size()) != expected)
      return std::nullopt;
    bytes.data = blob->getData();
    return bytes;
  }
  return std::nullopt;
}

} // namespace mlir::attn

#endif // ATTN_SUPPORT_CONSTANTBYTES_H
