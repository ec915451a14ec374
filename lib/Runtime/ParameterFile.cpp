//===- ParameterFile.cpp - map a compiled model's parameter file ----------===//

#include "ParameterFile.h"

#include "attn/Support/ExternalFingerprint.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace attn::rt;

namespace {

/// The header that attn-compile writes (attn/Conversion/ExternalizeWeights):
/// magic, little-endian u64 file size, u64 hash, zeros up to 64 bytes.
constexpr char kMagic[8] = {'A', 'T', 'T', 'N', 'P', 'R', 'M', '1'};
constexpr size_t kHeaderBytes = 64;

uint64_t readLE64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

/// Opens `path` read-only and maps all of it if it has `size` bytes; `fail`
/// receives the reason otherwise.
template <typename Fail>
void *mapWhole(const std::string &path, uint64_t size, Fail fail) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(std::string("cannot be opened: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail("is not a regular file");
  }
  if (uint64_t(st.st_size) != size || size == 0) {
    close(fd);
    return fail("has " + std::to_string(st.st_size) +
                " bytes, but the model expects " + std::to_string(size) +
                " (truncated, or from another compile?)");
  }
  // MAP_PRIVATE + PROT_READ: pages come from the page cache, shared with
  // every process that maps the file, and are read only when touched.
  void *data = mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
  int mapErrno = errno;
  close(fd);
  if (data == MAP_FAILED)
    return fail(std::string("cannot be mapped: ") + std::strerror(mapErrno));
  return data;
}

} // namespace

ParameterFile::~ParameterFile() { munmap(data_, size_); }

std::unique_ptr<ParameterFile>
ParameterFile::map(const std::string &libraryPath, const ParamsSignature &params,
                   std::string &error) {
  size_t slash = libraryPath.rfind('/');
  std::string path =
      (slash == std::string::npos ? "" : libraryPath.substr(0, slash + 1)) +
      params.file;
  auto fail = [&](const std::string &why) {
    error = "parameter file '" + path + "' of '" + libraryPath + "' " + why;
    return nullptr;
  };
  if (params.size < kHeaderBytes)
    return fail("is too small for the model's signature");
  void *data = mapWhole(path, params.size, [&](const std::string &why) {
    fail(why);
    return nullptr;
  });
  if (!data)
    return nullptr;
  std::unique_ptr<ParameterFile> file(new ParameterFile(data, params.size));
  const auto *header = static_cast<const unsigned char *>(data);
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0)
    return fail("is not an attn-mlir parameter file (bad magic)");
  if (readLE64(header + 8) != params.size || readLE64(header + 16) != params.hash)
    return fail("belongs to another compile of the model (its header does not "
                "match the library's signature)");
  return file;
}

std::unique_ptr<ParameterFile>
ParameterFile::mapExternal(const std::string &libraryPath,
                           const ExternalParamsSignature &external,
                           std::string &error) {
  std::string path = external.path;
  const char *dir = std::getenv("ATTN_PARAMS_DIR");
  if (dir && *dir) {
    size_t slash = path.rfind('/');
    path = std::string(dir) + "/" +
           (slash == std::string::npos ? path : path.substr(slash + 1));
  } else if (path.empty() || path[0] != '/') {
    size_t slash = libraryPath.rfind('/');
    path = (slash == std::string::npos ? "" : libraryPath.substr(0, slash + 1)) +
           path;
  }
  auto fail = [&](const std::string &why) {
    error = "external data file '" + path + "' of '" + libraryPath + "' " + why;
    return nullptr;
  };
  void *data = mapWhole(path, external.size, [&](const std::string &why) {
    fail(why);
    return nullptr;
  });
  if (!data)
    return nullptr;
  std::unique_ptr<ParameterFile> file(new ParameterFile(data, external.size));
  if (attnExternalFingerprint(data, external.size) != external.fingerprint)
    return fail("has changed since the model was compiled (its fingerprint "
                "does not match the library's signature); recompile the "
                "model or restore the file");
  return file;
}

std::unique_ptr<ParameterFiles>
attn::rt::mapParameterFiles(const std::string &libraryPath,
                            const ModelSignature &signature,
                            std::string &error) {
  auto files = std::make_unique<ParameterFiles>();
  if (signature.params) {
    files->files.push_back(
        ParameterFile::map(libraryPath, *signature.params, error));
    if (!files->files.back())
      return nullptr;
  }
  for (const ExternalParamsSignature &external : signature.externals) {
    files->files.push_back(
        ParameterFile::mapExternal(libraryPath, external, error));
    if (!files->files.back())
      return nullptr;
  }
  return files;
}
