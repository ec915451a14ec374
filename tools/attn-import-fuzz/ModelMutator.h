//===- ModelMutator.h - structure-aware mutations of ONNX models -*- C++ -*-===//
//
// Byte-level mutations mostly break the protobuf encoding, so the importer
// rarely sees a well-formed model with one odd value. This mutator parses
// the input, changes one thing a hostile or corrupt file could carry (an
// extreme integer in an attribute, a shape constant, a declared dim; another
// operator type; a rewired input; another element type) and serializes it
// again.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_IMPORT_FUZZ_MODELMUTATOR_H
#define ATTN_TOOLS_ATTN_IMPORT_FUZZ_MODELMUTATOR_H

#include <cstddef>
#include <cstdint>

namespace attn_fuzz {

/// Mutates the model in `data` (`size` bytes) in place; returns the new
/// size, or 0 when `data` does not parse or the result would not fit in
/// `maxSize` (the caller then mutates bytes instead).
size_t mutateModel(uint8_t *data, size_t size, size_t maxSize, unsigned seed);

} // namespace attn_fuzz

#endif // ATTN_TOOLS_ATTN_IMPORT_FUZZ_MODELMUTATOR_H
