//===- ModelSignature.cpp - parse a compiled model's signature ------------===//

#include "ModelSignature.h"

#include <limits>
#include <sstream>

using namespace attn::rt;

namespace {

/// Undoes the %XX escapes that names use for whitespace, '%' and
/// non-printable bytes.
bool unescapeName(const std::string &text, std::string &name) {
  name.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      name += text[i];
      continue;
    }
    if (i + 2 >= text.size())
      return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9')
        return c - '0';
      if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
      if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
      return -1;
    };
    int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    name += char(hi * 16 + lo);
    i += 2;
  }
  return !name.empty();
}

bool parseTensor(std::istringstream &in, TensorSignature &tensor,
                 std::string &error) {
  std::string name, dtype;
  int64_t rank = -1;
  if (!(in >> name >> dtype >> rank) || rank < 0 || rank > 64) {
    error = "malformed tensor line";
    return false;
  }
  if (!unescapeName(name, tensor.name)) {
    error = "malformed tensor name '" + name + "'";
    return false;
  }
  if (!dtypeFromName(dtype, tensor.dtype)) {
    error = "unknown dtype '" + dtype + "' of '" + tensor.name + "'";
    return false;
  }
  uint64_t bytes = attnDTypeSize(tensor.dtype);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t size = -1;
    if (!(in >> size) || size < 0) {
      error = "malformed shape of '" + tensor.name + "'";
      return false;
    }
    if (size != 0 && bytes > std::numeric_limits<uint64_t>::max() / size) {
      error = "shape of '" + tensor.name + "' is too large";
      return false;
    }
    bytes *= uint64_t(size);
    tensor.shape.push_back(size);
  }
  std::string extra;
  if (in >> extra) {
    error = "trailing text after the shape of '" + tensor.name + "'";
    return false;
  }
  tensor.numBytes = bytes;
  return true;
}

/// `FILE SIZE HASH` of a params line.
bool parseParams(std::istringstream &in, ParamsSignature &params,
                 std::string &error) {
  std::string extra;
  if (!(in >> params.file >> params.size >> params.hash) || (in >> extra)) {
    error = "malformed params line (expected 'params FILE SIZE HASH')";
    return false;
  }
  // The file sits next to the library; a path could point anywhere.
  if (params.file.find('/') != std::string::npos || params.file == "." ||
      params.file == "..") {
    error = "params file '" + params.file + "' is not a plain file name";
    return false;
  }
  return true;
}

/// `PATH SIZE FINGERPRINT` of a params-external line.
bool parseExternal(std::istringstream &in, ExternalParamsSignature &external,
                   std::string &error) {
  std::string extra;
  if (!(in >> external.path >> external.size >> external.fingerprint) ||
      (in >> extra)) {
    error = "malformed params-external line (expected 'params-external PATH "
            "SIZE FINGERPRINT')";
    return false;
  }
  return true;
}

} // namespace

bool attn::rt::dtypeFromName(const std::string &name, AttnDType &dtype) {
  for (int i = ATTN_DTYPE_F32; i <= ATTN_DTYPE_BOOL; ++i) {
    if (name == attnDTypeName(AttnDType(i))) {
      dtype = AttnDType(i);
      return true;
    }
  }
  return false;
}

bool attn::rt::parseModelSignature(const std::string &text,
                                   ModelSignature &signature,
                                   std::string &error) {
  std::istringstream lines(text);
  std::string line;
  int lineNumber = 0;
  bool haveHeader = false;
  while (std::getline(lines, line)) {
    ++lineNumber;
    std::istringstream in(line);
    std::string keyword;
    if (!(in >> keyword))
      continue;
    auto fail = [&](const std::string &message) {
      error = "model signature line " + std::to_string(lineNumber) + ": " +
              message;
      return false;
    };
    if (!haveHeader) {
      if (keyword != "attn-model" || !(in >> signature.version))
        return fail("expected 'attn-model <version>'");
      if (signature.version < kOldestModelAbiVersion ||
          signature.version > ATTN_MODEL_ABI_VERSION)
        return fail("model ABI version " + std::to_string(signature.version) +
                    " is not supported by this runtime (it reads versions " +
                    std::to_string(kOldestModelAbiVersion) + " to " +
                    std::to_string(ATTN_MODEL_ABI_VERSION) + ")");
      haveHeader = true;
      continue;
    }
    if (keyword == "device") {
      std::string device;
      in >> device;
      if (device == "cpu")
        signature.device = ATTN_DEVICE_CPU;
      else if (device == "cuda")
        signature.device = ATTN_DEVICE_CUDA;
      else
        return fail("unknown device '" + device + "'");
    } else if (keyword == "input" || keyword == "output" ||
               (keyword == "inout" && signature.version >= 2)) {
      BufferKind kind = keyword == "input"    ? BufferKind::Input
                        : keyword == "output" ? BufferKind::Output
                                              : BufferKind::Inout;
      TensorSignature tensor;
      if (!parseTensor(in, tensor, error))
        return fail(error);
      auto &list = signature.list(kind);
      signature.buffers.emplace_back(kind, int(list.size()));
      list.push_back(std::move(tensor));
    } else if (keyword == "params" && signature.version >= 3) {
      if (signature.params)
        return fail("a second params line");
      ParamsSignature params;
      if (!parseParams(in, params, error))
        return fail(error);
      signature.params = std::move(params);
    } else if (keyword == "params-external" && signature.version >= 4) {
      ExternalParamsSignature external;
      if (!parseExternal(in, external, error))
        return fail(error);
      signature.externals.push_back(std::move(external));
    }
    // Other keywords are later additions that this runtime may ignore.
  }
  if (!haveHeader) {
    error = "empty model signature";
    return false;
  }
  return true;
}
