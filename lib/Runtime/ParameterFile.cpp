//===- ParameterFile.cpp - hold a compiled model's parameter file ---------===//

#include "ParameterFile.h"

#include "attn/Support/ExternalFingerprint.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
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
constexpr uint64_t kHugePageBytes = uint64_t(2) << 20;

uint64_t readLE64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

/// How a parameter file is held in memory ($ATTN_PARAMS_LOAD,
/// docs/runtime-abi.md "How the runtime holds the weights").
enum class LoadMode { Map, Huge };

/// True unless the kernel's transparent huge pages are off ("[never]").
bool hugePagesAvailable() {
  int fd = open("/sys/kernel/mm/transparent_hugepage/enabled",
                O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char text[128] = {};
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  return n > 0 && !std::strstr(text, "[never]");
}

/// Bytes of physical memory (0 if unknown).
uint64_t physicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  return pages > 0 && pageSize > 0 ? uint64_t(pages) * uint64_t(pageSize) : 0;
}

/// The load mode: `how` when the caller chose one (attnModelLoadWith), else
/// $ATTN_PARAMS_LOAD ("map": the file mapped, shared page cache, 4 KiB
/// pages; "huge": copied into huge pages), both `forced`; else, for the
/// weights of a CPU model (`readByCpu`) in a file of 2 MiB up to half the
/// machine's memory, a copy into huge pages where the kernel has transparent
/// huge pages (and the mapping if the copy's memory cannot be had); else
/// (a GPU model's weights, read once to upload them, larger files) the
/// mapping: a copy is not paged out as the page cache is.
template <typename Fail>
bool chooseLoadMode(uint64_t size, AttnParamsLoad how, bool readByCpu,
                    LoadMode &mode, bool &forced, Fail fail) {
  // attnModelLoadWith has checked `how`.
  if (how != ATTN_PARAMS_LOAD_DEFAULT) {
    forced = true;
    mode = how == ATTN_PARAMS_LOAD_HUGE ? LoadMode::Huge : LoadMode::Map;
    return true;
  }
  const char *env = std::getenv("ATTN_PARAMS_LOAD");
  forced = env && *env;
  if (forced) {
    if (std::strcmp(env, "map") == 0) {
      mode = LoadMode::Map;
      return true;
    }
    if (std::strcmp(env, "huge") == 0) {
      mode = LoadMode::Huge;
      return true;
    }
    fail(std::string("cannot be loaded: $ATTN_PARAMS_LOAD is '") + env +
         "' (expected 'map' or 'huge')");
    return false;
  }
  mode = readByCpu && size >= kHugePageBytes &&
                 size <= physicalMemory() / 2 && hugePagesAvailable()
             ? LoadMode::Huge
             : LoadMode::Map;
  return true;
}

/// Reads the `size` bytes of `fd` into a fresh read-only anonymous region
/// aligned to 2 MiB and advised MADV_HUGEPAGE: a decode step streams all the
/// weights, and with 4 KiB pages one core's reads stall on the TLB and on
/// prefetchers that stop at every page (bench/RESULTS.md, "Lead's session
/// on the Zen 4 VM, 2026-12-05").
/// Null with `why` when memory (`noMemory`) or the read fails.
void *readIntoHugePages(int fd, uint64_t size, Mapping &mapping,
                        std::string &why, bool &noMemory) {
  size_t rounded = size_t((size + kHugePageBytes - 1) / kHugePageBytes *
                          kHugePageBytes);
  size_t length = rounded + kHugePageBytes;
  void *raw = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  noMemory = raw == MAP_FAILED;
  if (noMemory) {
    why = std::string("cannot be loaded: ") + std::strerror(errno);
    return nullptr;
  }
  auto *data = reinterpret_cast<char *>(
      (reinterpret_cast<uintptr_t>(raw) + kHugePageBytes - 1) &
      ~uintptr_t(kHugePageBytes - 1));
  madvise(data, rounded, MADV_HUGEPAGE);
  for (uint64_t at = 0; at < size;) {
    size_t chunk = size_t(std::min<uint64_t>(size - at, 64u << 20));
    ssize_t got = pread(fd, data + at, chunk, off_t(at));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      why = got < 0 ? std::string("cannot be read: ") + std::strerror(errno)
                    : std::string("was truncated while it was read");
      munmap(raw, length);
      return nullptr;
    }
    at += uint64_t(got);
  }
  mprotect(data, rounded, PROT_READ);
  mapping = {raw, length};
  return data;
}

/// Opens `path` read-only and holds all of it (mapped, or copied into huge
/// pages) if it has `size` bytes; `fail` receives the reason otherwise.
template <typename Fail>
void *mapWhole(const std::string &path, uint64_t size, AttnParamsLoad how,
               bool readByCpu, Mapping &mapping, Fail fail) {
  LoadMode mode;
  bool forced;
  if (!chooseLoadMode(size, how, readByCpu, mode, forced, fail))
    return nullptr;
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
  if (mode == LoadMode::Huge) {
    std::string why;
    bool noMemory = false;
    void *data = readIntoHugePages(fd, size, mapping, why, noMemory);
    if (data) {
      close(fd);
      return data;
    }
    // Only the default falls back to the mapping, and only for memory.
    if (forced || !noMemory) {
      close(fd);
      return fail(why);
    }
  }
  // MAP_PRIVATE + PROT_READ: pages come from the page cache, shared with
  // every process that maps the file, and are read only when touched.
  void *data = mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0);
  int mapErrno = errno;
  close(fd);
  if (data == MAP_FAILED)
    return fail(std::string("cannot be mapped: ") + std::strerror(mapErrno));
  mapping = {data, size_t(size)};
  return data;
}

} // namespace

ParameterFile::~ParameterFile() { munmap(mapping_.base, mapping_.length); }

std::unique_ptr<ParameterFile>
ParameterFile::map(const std::string &libraryPath, const ParamsSignature &params,
                   AttnParamsLoad how, bool readByCpu, std::string &error) {
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
  Mapping mapping;
  void *data =
      mapWhole(path, params.size, how, readByCpu, mapping, [&](const std::string &why) {
        fail(why);
        return nullptr;
      });
  if (!data)
    return nullptr;
  std::unique_ptr<ParameterFile> file(new ParameterFile(data, mapping));
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
                           AttnParamsLoad how, bool readByCpu,
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
  Mapping mapping;
  void *data =
      mapWhole(path, external.size, how, readByCpu, mapping, [&](const std::string &why) {
        fail(why);
        return nullptr;
      });
  if (!data)
    return nullptr;
  std::unique_ptr<ParameterFile> file(new ParameterFile(data, mapping));
  if (attnExternalFingerprint(data, external.size) != external.fingerprint)
    return fail("has changed since the model was compiled (its fingerprint "
                "does not match the library's signature); recompile the "
                "model or restore the file");
  return file;
}

std::unique_ptr<ParameterFiles>
attn::rt::mapParameterFiles(const std::string &libraryPath,
                            const ModelSignature &signature,
                            AttnParamsLoad how, std::string &error) {
  auto files = std::make_unique<ParameterFiles>();
  bool readByCpu = signature.device == ATTN_DEVICE_CPU;
  if (signature.params) {
    files->files.push_back(
        ParameterFile::map(libraryPath, *signature.params, how, readByCpu, error));
    if (!files->files.back())
      return nullptr;
  }
  for (const ExternalParamsSignature &external : signature.externals) {
    files->files.push_back(
        ParameterFile::mapExternal(libraryPath, external, how, readByCpu, error));
    if (!files->files.back())
      return nullptr;
  }
  return files;
}
