//===- Npz.cpp - read and write NumPy .npz archives -----------------------===//
//
// An .npz is a zip archive with one .npy member per array. Everything read
// from the file is bounds-checked: a malformed archive yields an error
// message, never a crash or a huge allocation.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Npz.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace attn::rt;

const char *attn::rt::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::F64: return "f64";
  case DType::I64: return "i64";
  case DType::I32: return "i32";
  case DType::I16: return "i16";
  case DType::I8: return "i8";
  case DType::U8: return "u8";
  case DType::Bool: return "bool";
  }
  return "?";
}

size_t attn::rt::dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F64:
  case DType::I64: return 8;
  case DType::F32:
  case DType::I32: return 4;
  case DType::F16:
  case DType::BF16:
  case DType::I16: return 2;
  case DType::I8:
  case DType::U8:
  case DType::Bool: return 1;
  }
  return 0;
}

size_t Array::numElements() const {
  size_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<size_t>(d);
  return n;
}

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDirSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kMax32 = 0xffffffffu;
constexpr uint16_t kMax16 = 0xffffu;
// Deflate cannot expand data by more than about 1032:1; a larger claimed
// size is a corrupt (or hostile) header.
constexpr uint64_t kMaxDeflateRatio = 1100;

uint16_t load16(const uint8_t *p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t load32(const uint8_t *p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) |
         (uint32_t(p[3]) << 24);
}
uint64_t load64(const uint8_t *p) {
  return uint64_t(load32(p)) | (uint64_t(load32(p + 4)) << 32);
}

/// CRC-32 of a buffer of any size (zlib takes 32-bit lengths).
uint32_t crc32Of(uint32_t crc, const uint8_t *data, size_t size) {
  while (size > 0) {
    uInt chunk = uInt(std::min<size_t>(size, 1u << 30));
    crc = uint32_t(crc32(crc, data, chunk));
    data += chunk;
    size -= chunk;
  }
  return crc;
}

bool readWholeFile(const std::string &path, std::vector<uint8_t> &bytes,
                   std::string &error) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "'" + path + "' is not a regular file";
    return false;
  }
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  bytes.resize(size_t(st.st_size));
  size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
  bool ok = got == bytes.size() && !std::ferror(f);
  std::fclose(f);
  if (!ok)
    error = "cannot read '" + path + "'";
  return ok;
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

/// The subset of Python literal syntax that .npy headers use: a dict of
/// string keys to strings, booleans and tuples of integers.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : s(text) {}

  bool parse(std::string &descr, bool &fortranOrder,
             std::vector<int64_t> &shape, std::string &error) {
    bool haveDescr = false, haveOrder = false, haveShape = false;
    skipSpace();
    if (!consume('{'))
      return fail("header is not a dict", error);
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (!parseString(key))
        return fail("expected a string key in the header", error);
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' in the header", error);
      skipSpace();
      if (key == "descr") {
        if (peek() == '[')
          return fail("structured dtypes are not supported", error);
        if (!parseString(descr))
          return fail("'descr' is not a string", error);
        haveDescr = true;
      } else if (key == "fortran_order") {
        if (!parseBool(fortranOrder))
          return fail("'fortran_order' is not True or False", error);
        haveOrder = true;
      } else if (key == "shape") {
        if (!parseShape(shape))
          return fail("'shape' is not a tuple of non-negative integers",
                      error);
        haveShape = true;
      } else {
        return fail("unexpected key '" + key + "' in the header", error);
      }
      skipSpace();
      if (!consume(',')) {
        skipSpace();
        if (!consume('}'))
          return fail("expected ',' or '}' in the header", error);
        break;
      }
    }
    if (!haveDescr || !haveOrder || !haveShape)
      return fail("header lacks 'descr', 'fortran_order' or 'shape'", error);
    return true;
  }

private:
  static bool fail(const std::string &message, std::string &error) {
    error = message;
    return false;
  }
  char peek() const { return pos < s.size() ? s[pos] : '\0'; }
  bool consume(char c) {
    if (peek() != c)
      return false;
    ++pos;
    return true;
  }
  void skipSpace() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' ||
                              s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }
  bool parseString(std::string &out) {
    char quote = peek();
    if (quote != '\'' && quote != '"')
      return false;
    size_t end = s.find(quote, pos + 1);
    if (end == std::string::npos)
      return false;
    out = s.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    return true;
  }
  bool parseBool(bool &out) {
    if (s.compare(pos, 4, "True") == 0) {
      out = true;
      pos += 4;
      return true;
    }
    if (s.compare(pos, 5, "False") == 0) {
      out = false;
      pos += 5;
      return true;
    }
    return false;
  }
  bool parseShape(std::vector<int64_t> &shape) {
    if (!consume('('))
      return false;
    while (true) {
      skipSpace();
      if (consume(')'))
        return true;
      size_t start = pos;
      int64_t value = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (value > (std::numeric_limits<int64_t>::max() - 9) / 10)
          return false;
        value = value * 10 + (s[pos++] - '0');
      }
      // Python 2 era files may write long integers as "3L".
      if (pos == start)
        return false;
      consume('L');
      shape.push_back(value);
      skipSpace();
      if (!consume(',')) {
        skipSpace();
        return consume(')');
      }
    }
  }

  const std::string &s;
  size_t pos = 0;
};

bool dtypeFromDescr(const std::string &descr, DType &dtype,
                    std::string &error) {
  struct Entry {
    const char *descr;
    DType dtype;
  };
  static const Entry kEntries[] = {
      {"<f4", DType::F32},   {"<f2", DType::F16},   {"<f8", DType::F64},
      {"<i8", DType::I64},   {"<i4", DType::I32},   {"<i2", DType::I16},
      {"|i1", DType::I8},    {"<i1", DType::I8},    {"|u1", DType::U8},
      {"<u1", DType::U8},    {"|b1", DType::Bool},  {"<b1", DType::Bool},
      {"<u2", DType::BF16},  {"<V2", DType::BF16},  {"|V2", DType::BF16},
      {"bfloat16", DType::BF16}, {"<bf16", DType::BF16}};
  for (const Entry &e : kEntries) {
    if (descr == e.descr) {
      dtype = e.dtype;
      return true;
    }
  }
  if (!descr.empty() && descr[0] == '>')
    error = "big-endian dtype '" + descr + "' is not supported";
  else
    error = "unsupported dtype '" + descr + "'";
  return false;
}

const char *descrOf(DType dtype) {
  switch (dtype) {
  case DType::F32: return "<f4";
  case DType::F16: return "<f2";
  case DType::BF16: return "<u2";
  case DType::F64: return "<f8";
  case DType::I64: return "<i8";
  case DType::I32: return "<i4";
  case DType::I16: return "<i2";
  case DType::I8: return "|i1";
  case DType::U8: return "|u1";
  case DType::Bool: return "|b1";
  }
  return "?";
}

bool parseNpy(const uint8_t *data, size_t size, Array &array,
              std::string &error) {
  static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, kMagic, 6) != 0) {
    error = "not a .npy array (bad magic)";
    return false;
  }
  uint8_t major = data[6];
  size_t headerStart, headerLen;
  if (major == 1) {
    headerStart = 10;
    headerLen = load16(data + 8);
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      error = "truncated .npy header";
      return false;
    }
    headerStart = 12;
    headerLen = load32(data + 8);
  } else {
    error = "unsupported .npy format version " + std::to_string(major);
    return false;
  }
  if (headerLen > size - headerStart) {
    error = "truncated .npy header";
    return false;
  }
  std::string header(reinterpret_cast<const char *>(data + headerStart),
                     headerLen);
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  if (!HeaderParser(header).parse(descr, fortranOrder, shape, error))
    return false;
  if (fortranOrder) {
    error = "fortran_order arrays are not supported (save a C-contiguous "
            "array, e.g. np.ascontiguousarray)";
    return false;
  }
  if (!dtypeFromDescr(descr, array.dtype, error))
    return false;

  size_t dataSize = size - headerStart - headerLen;
  size_t elementSize = dtypeSize(array.dtype);
  size_t count = 1;
  for (int64_t d : shape) {
    if (d != 0 && count > std::numeric_limits<size_t>::max() / size_t(d)) {
      error = "shape is too large";
      return false;
    }
    count *= size_t(d);
  }
  if (count > dataSize / elementSize || count * elementSize != dataSize) {
    error = "data size " + std::to_string(dataSize) +
            " bytes does not match shape and dtype (" +
            std::to_string(count) + " x " + std::to_string(elementSize) +
            " bytes)";
    return false;
  }
  array.shape = std::move(shape);
  const uint8_t *payload = data + headerStart + headerLen;
  array.data.assign(payload, payload + dataSize);
  return true;
}

/// The .npy header of `array`: NumPy's layout, padded so the data starts at
/// a multiple of 64 bytes.
std::string npyHeader(const Array &array) {
  std::string dict = "{'descr': '";
  dict += descrOf(array.dtype);
  dict += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i) {
    if (i)
      dict += ", ";
    dict += std::to_string(array.shape[i]);
  }
  if (array.shape.size() == 1)
    dict += ",";
  dict += "), }";
  size_t prefix = 10;
  if (dict.size() + 1 + 64 > kMax16)
    prefix = 12;
  size_t total = prefix + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';

  std::string out("\x93NUMPY", 6);
  size_t len = dict.size();
  if (prefix == 10) {
    out += char(1);
    out += char(0);
    out += char(len & 0xff);
    out += char((len >> 8) & 0xff);
  } else {
    out += char(2);
    out += char(0);
    for (int i = 0; i < 4; ++i)
      out += char((len >> (8 * i)) & 0xff);
  }
  return out + dict;
}

//===----------------------------------------------------------------------===//
// zip reading
//===----------------------------------------------------------------------===//

struct Member {
  std::string name;
  uint16_t flags = 0;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressedSize = 0;
  uint64_t size = 0;
  uint64_t localOffset = 0;
};

bool inflateMember(const uint8_t *in, uint64_t inSize, uint64_t outSize,
                   std::vector<uint8_t> &out, std::string &error) {
  if (outSize > inSize * kMaxDeflateRatio + 1024) {
    error = "implausible uncompressed size";
    return false;
  }
  out.resize(size_t(outSize));
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
    error = "cannot initialise zlib";
    return false;
  }
  uint64_t inPos = 0, outPos = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    uInt inChunk = uInt(std::min<uint64_t>(inSize - inPos, 1u << 30));
    uInt outChunk = uInt(std::min<uint64_t>(outSize - outPos, 1u << 30));
    zs.next_in = const_cast<Bytef *>(in + inPos);
    zs.avail_in = inChunk;
    zs.next_out = out.data() + outPos;
    zs.avail_out = outChunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    inPos += inChunk - zs.avail_in;
    outPos += outChunk - zs.avail_out;
    if (rc == Z_BUF_ERROR && (outPos == outSize || inPos == inSize))
      break;
    if (rc == Z_OK && inChunk == zs.avail_in && outChunk == zs.avail_out)
      break; // no progress
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || outPos != outSize) {
    error = "corrupt deflate data";
    return false;
  }
  return true;
}

/// Finds the central directory: (offset, size, entries).
bool findCentralDirectory(const std::vector<uint8_t> &file, uint64_t &cdOffset,
                          uint64_t &cdSize, uint64_t &entries,
                          std::string &error) {
  const size_t n = file.size();
  const uint8_t *p = file.data();
  if (n < 22) {
    error = "not an npz (zip) file";
    return false;
  }
  size_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
  size_t eocd = std::string::npos;
  for (size_t pos = n - 22 + 1; pos-- > lowest;) {
    if (load32(p + pos) == kEndOfCentralDirSig &&
        pos + 22 + load16(p + pos + 20) <= n) {
      eocd = pos;
      break;
    }
  }
  if (eocd == std::string::npos) {
    error = "not an npz (zip) file";
    return false;
  }
  entries = load16(p + eocd + 10);
  cdSize = load32(p + eocd + 12);
  cdOffset = load32(p + eocd + 16);
  if (eocd >= 20 && load32(p + eocd - 20) == kZip64LocatorSig) {
    uint64_t z64 = load64(p + eocd - 20 + 8);
    if (z64 > n || n - z64 < 56 || load32(p + z64) != kZip64EndOfCentralDirSig) {
      error = "corrupt zip64 end of central directory";
      return false;
    }
    entries = load64(p + z64 + 32);
    cdSize = load64(p + z64 + 40);
    cdOffset = load64(p + z64 + 48);
  }
  if (cdOffset > n || cdSize > n - cdOffset) {
    error = "corrupt zip central directory";
    return false;
  }
  return true;
}

bool readMembers(const std::vector<uint8_t> &file, std::vector<Member> &members,
                 std::string &error) {
  uint64_t cdOffset, cdSize, entries;
  if (!findCentralDirectory(file, cdOffset, cdSize, entries, error))
    return false;
  const uint8_t *p = file.data() + cdOffset;
  uint64_t left = cdSize;
  for (uint64_t i = 0; i < entries; ++i) {
    if (left < 46 || load32(p) != kCentralHeaderSig) {
      error = "corrupt zip central directory";
      return false;
    }
    Member m;
    m.flags = load16(p + 8);
    m.method = load16(p + 10);
    m.crc = load32(p + 16);
    m.compressedSize = load32(p + 20);
    m.size = load32(p + 24);
    uint16_t nameLen = load16(p + 28), extraLen = load16(p + 30),
             commentLen = load16(p + 32);
    m.localOffset = load32(p + 42);
    uint64_t entrySize = 46ull + nameLen + extraLen + commentLen;
    if (entrySize > left) {
      error = "corrupt zip central directory";
      return false;
    }
    m.name.assign(reinterpret_cast<const char *>(p + 46), nameLen);
    // The zip64 extra field holds, in order, whichever of these 32-bit
    // fields are saturated.
    const uint8_t *extra = p + 46 + nameLen;
    for (size_t off = 0; off + 4 <= extraLen;) {
      uint16_t id = load16(extra + off), len = load16(extra + off + 2);
      if (off + 4 + len > extraLen)
        break;
      if (id == 1) {
        const uint8_t *f = extra + off + 4;
        size_t fl = len;
        auto take = [&](uint64_t &field) {
          if (field != kMax32)
            return true;
          if (fl < 8)
            return false;
          field = load64(f);
          f += 8;
          fl -= 8;
          return true;
        };
        if (!take(m.size) || !take(m.compressedSize) || !take(m.localOffset)) {
          error = "corrupt zip64 extra field";
          return false;
        }
      }
      off += 4 + len;
    }
    members.push_back(std::move(m));
    p += entrySize;
    left -= entrySize;
  }
  return true;
}

/// The uncompressed bytes of member `m` (pointing into `file` when stored).
bool memberData(const std::vector<uint8_t> &file, const Member &m,
                std::vector<uint8_t> &scratch, const uint8_t *&data,
                size_t &size, std::string &error) {
  const size_t n = file.size();
  if (m.flags & 1) {
    error = "encrypted zip members are not supported";
    return false;
  }
  if (m.localOffset > n || n - m.localOffset < 30 ||
      load32(file.data() + m.localOffset) != kLocalHeaderSig) {
    error = "corrupt zip local header";
    return false;
  }
  const uint8_t *local = file.data() + m.localOffset;
  uint64_t start = m.localOffset + 30 + load16(local + 26) + load16(local + 28);
  if (start > n || m.compressedSize > n - start) {
    error = "truncated zip member";
    return false;
  }
  const uint8_t *in = file.data() + start;
  if (m.method == 0) {
    if (m.compressedSize != m.size) {
      error = "corrupt stored zip member";
      return false;
    }
    data = in;
    size = size_t(m.size);
  } else if (m.method == 8) {
    if (!inflateMember(in, m.compressedSize, m.size, scratch, error))
      return false;
    data = scratch.data();
    size = scratch.size();
  } else {
    error = "unsupported zip compression method " + std::to_string(m.method);
    return false;
  }
  if (crc32Of(0, data, size) != m.crc) {
    error = "CRC mismatch (corrupt data)";
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// zip writing
//===----------------------------------------------------------------------===//

class ByteSink {
public:
  explicit ByteSink(FILE *f) : f(f) {}
  void bytes(const void *data, size_t size) {
    if (ok && size && std::fwrite(data, 1, size, f) != size)
      ok = false;
    offset += size;
  }
  void u16(uint16_t v) {
    uint8_t b[2] = {uint8_t(v), uint8_t(v >> 8)};
    bytes(b, 2);
  }
  void u32(uint32_t v) {
    uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16),
                    uint8_t(v >> 24)};
    bytes(b, 4);
  }
  void u64(uint64_t v) {
    u32(uint32_t(v));
    u32(uint32_t(v >> 32));
  }
  FILE *f;
  uint64_t offset = 0;
  bool ok = true;
};

struct Written {
  std::string name;
  uint32_t crc;
  uint64_t size;
  uint64_t offset;
};

void writeArchive(ByteSink &out, const std::vector<Array> &arrays) {
  constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  std::vector<Written> written;
  for (const Array &a : arrays) {
    std::string header = npyHeader(a);
    Written w;
    w.name = a.name + ".npy";
    w.size = header.size() + a.data.size();
    w.offset = out.offset;
    w.crc = crc32Of(crc32Of(0, reinterpret_cast<const uint8_t *>(header.data()),
                            header.size()),
                    a.data.data(), a.data.size());
    bool zip64 = w.size >= kMax32;
    out.u32(kLocalHeaderSig);
    out.u16(zip64 ? 45 : 20);
    out.u16(0); // flags
    out.u16(0); // stored
    out.u16(0); // time
    out.u16(kDosDate);
    out.u32(w.crc);
    out.u32(zip64 ? kMax32 : uint32_t(w.size));
    out.u32(zip64 ? kMax32 : uint32_t(w.size));
    out.u16(uint16_t(w.name.size()));
    out.u16(zip64 ? 20 : 0);
    out.bytes(w.name.data(), w.name.size());
    if (zip64) {
      out.u16(1);
      out.u16(16);
      out.u64(w.size);
      out.u64(w.size);
    }
    out.bytes(header.data(), header.size());
    out.bytes(a.data.data(), a.data.size());
    written.push_back(std::move(w));
  }

  uint64_t cdOffset = out.offset;
  for (const Written &w : written) {
    bool zip64 = w.size >= kMax32 || w.offset >= kMax32;
    out.u32(kCentralHeaderSig);
    out.u16(zip64 ? 45 : 20); // made by
    out.u16(zip64 ? 45 : 20); // needed
    out.u16(0);
    out.u16(0);
    out.u16(0);
    out.u16(kDosDate);
    out.u32(w.crc);
    out.u32(zip64 ? kMax32 : uint32_t(w.size));
    out.u32(zip64 ? kMax32 : uint32_t(w.size));
    out.u16(uint16_t(w.name.size()));
    out.u16(zip64 ? 28 : 0);
    out.u16(0); // comment
    out.u16(0); // disk
    out.u16(0); // internal attributes
    out.u32(0); // external attributes
    out.u32(zip64 ? kMax32 : uint32_t(w.offset));
    out.bytes(w.name.data(), w.name.size());
    if (zip64) {
      out.u16(1);
      out.u16(24);
      out.u64(w.size);
      out.u64(w.size);
      out.u64(w.offset);
    }
  }
  uint64_t cdSize = out.offset - cdOffset;
  uint64_t count = written.size();
  bool zip64 = count >= kMax16 || cdOffset >= kMax32 || cdSize >= kMax32;
  if (zip64) {
    uint64_t z64Offset = out.offset;
    out.u32(kZip64EndOfCentralDirSig);
    out.u64(44);
    out.u16(45);
    out.u16(45);
    out.u32(0);
    out.u32(0);
    out.u64(count);
    out.u64(count);
    out.u64(cdSize);
    out.u64(cdOffset);
    out.u32(kZip64LocatorSig);
    out.u32(0);
    out.u64(z64Offset);
    out.u32(1);
  }
  out.u32(kEndOfCentralDirSig);
  out.u16(0);
  out.u16(0);
  out.u16(zip64 ? kMax16 : uint16_t(count));
  out.u16(zip64 ? kMax16 : uint16_t(count));
  out.u32(zip64 ? kMax32 : uint32_t(cdSize));
  out.u32(zip64 ? kMax32 : uint32_t(cdOffset));
  out.u16(0);
}

} // namespace

bool attn::rt::readNpz(const std::string &path, std::vector<Array> &arrays,
                       std::string &error) {
  arrays.clear();
  std::vector<uint8_t> file;
  if (!readWholeFile(path, file, error))
    return false;
  std::vector<Member> members;
  if (!readMembers(file, members, error)) {
    error = "'" + path + "': " + error;
    return false;
  }
  std::set<std::string> seen;
  std::vector<uint8_t> scratch;
  for (const Member &m : members) {
    auto fail = [&](const std::string &message) {
      error = "'" + path + "': member '" + m.name + "': " + message;
      arrays.clear();
      return false;
    };
    const std::string suffix = ".npy";
    if (m.name.size() <= suffix.size() ||
        m.name.compare(m.name.size() - suffix.size(), suffix.size(), suffix))
      return fail("not a .npy array");
    Array array;
    array.name = m.name.substr(0, m.name.size() - suffix.size());
    if (!seen.insert(array.name).second)
      return fail("duplicate array name");
    const uint8_t *data = nullptr;
    size_t size = 0;
    if (!memberData(file, m, scratch, data, size, error) ||
        !parseNpy(data, size, array, error))
      return fail(error);
    arrays.push_back(std::move(array));
  }
  return true;
}

bool attn::rt::writeNpz(const std::string &path,
                        const std::vector<Array> &arrays, std::string &error) {
  std::set<std::string> names;
  for (const Array &a : arrays) {
    if (a.name.empty() || a.name.size() > 60000) {
      error = "invalid array name '" + a.name + "'";
      return false;
    }
    if (!names.insert(a.name).second) {
      error = "duplicate array name '" + a.name + "'";
      return false;
    }
    for (int64_t d : a.shape) {
      if (d < 0) {
        error = "array '" + a.name + "' has a negative dimension";
        return false;
      }
    }
    if (a.data.size() != a.numElements() * dtypeSize(a.dtype)) {
      error = "array '" + a.name + "' holds " + std::to_string(a.data.size()) +
              " bytes, its shape and dtype need " +
              std::to_string(a.numElements() * dtypeSize(a.dtype));
      return false;
    }
  }

  std::string tmp = path + ".tmp.XXXXXX";
  int fd = mkstemp(&tmp[0]);
  if (fd < 0) {
    error = "cannot create '" + path + "': " + std::strerror(errno);
    return false;
  }
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp.c_str());
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  ByteSink sink(f);
  writeArchive(sink, arrays);
  bool ok = sink.ok && std::fflush(f) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0)
    return true;
  error = "cannot write '" + path + "': " + std::strerror(errno);
  unlink(tmp.c_str());
  return false;
}
