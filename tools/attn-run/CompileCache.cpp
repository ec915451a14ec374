//===- CompileCache.cpp - compile .mlir/.onnx models for attn-run ---------===//
//
// Keys are FNV-1a hashes: the cache guards against stale results, not
// against an adversary who can write to it. An ONNX model's weights may live
// in external-data files, so the key covers their bytes as well; they are
// found with a small reader of the protobuf wire format (attn-run links no
// protobuf or ONNX library).
//
//===----------------------------------------------------------------------===//

#include "CompileCache.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

using namespace attn::run;

namespace {

struct Hasher {
  uint64_t state = 1469598103934665603ull;
  void add(const void *data, size_t size) {
    const auto *p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < size; ++i) {
      state ^= p[i];
      state *= 1099511628211ull;
    }
  }
  void add(const std::string &s) {
    add(s.data(), s.size());
    add("\0", 1);
  }
};

std::string selfDirectory() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return "";
  std::string path(buf, size_t(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

bool endsWithOnnx(const std::string &path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

/// The directory part of `path` with its trailing slash ("" for none).
std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

bool isExecutable(const std::string &path) {
  return access(path.c_str(), X_OK) == 0;
}

std::string findAttnCompile() {
  if (const char *env = std::getenv("ATTN_COMPILE"))
    return env;
  std::string dir = selfDirectory();
  if (!dir.empty() && isExecutable(dir + "/attn-compile"))
    return dir + "/attn-compile";
  if (const char *path = std::getenv("PATH")) {
    std::string paths = path;
    size_t start = 0;
    while (start <= paths.size()) {
      size_t end = paths.find(':', start);
      if (end == std::string::npos)
        end = paths.size();
      std::string candidate = paths.substr(start, end - start) + "/attn-compile";
      if (end > start && isExecutable(candidate))
        return candidate;
      start = end + 1;
    }
  }
  return "";
}

bool makeDirectories(const std::string &path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/')
      continue;
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return false;
  }
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// The fields of one protobuf message, read from its wire format. Only
/// length-delimited fields (submessages and strings) are handed out; other
/// wire types are skipped.
class WireFields {
public:
  explicit WireFields(std::string_view bytes) : rest(bytes) {}

  /// The next length-delimited field; false at the end or on bad input.
  bool next(uint64_t &field, std::string_view &payload) {
    while (!rest.empty()) {
      uint64_t key;
      if (!varint(key))
        return false;
      field = key >> 3;
      switch (key & 7) {
      case 0: { // varint
        uint64_t ignored;
        if (!varint(ignored))
          return false;
        break;
      }
      case 1: // 64-bit
        if (!skip(8))
          return false;
        break;
      case 2: { // length-delimited
        uint64_t size;
        if (!varint(size) || size > rest.size())
          return false;
        payload = rest.substr(0, size);
        rest.remove_prefix(size);
        return true;
      }
      case 5: // 32-bit
        if (!skip(4))
          return false;
        break;
      default: // groups (3, 4) do not occur in ONNX
        return false;
      }
    }
    return false;
  }

private:
  bool varint(uint64_t &value) {
    value = 0;
    for (unsigned shift = 0; shift < 64 && !rest.empty(); shift += 7) {
      auto byte = static_cast<unsigned char>(rest.front());
      rest.remove_prefix(1);
      value |= uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80))
        return true;
    }
    return false;
  }
  bool skip(size_t n) {
    if (rest.size() < n)
      return false;
    rest.remove_prefix(n);
    return true;
  }

  std::string_view rest;
};

// Field numbers of onnx.proto that lead to tensors.
enum : uint64_t {
  kModelGraph = 7, kModelFunctions = 25,
  kGraphNode = 1, kGraphInitializer = 5, kGraphSparseInitializer = 15,
  kNodeAttribute = 5, kFunctionNode = 7,
  kAttrTensor = 5, kAttrGraph = 6, kAttrTensors = 10, kAttrGraphs = 11,
  kAttrSparseTensor = 22, kAttrSparseTensors = 23,
  kSparseValues = 1, kSparseIndices = 2,
  kTensorExternalData = 13, kEntryKey = 1, kEntryValue = 2,
};

/// What kind of ONNX message a payload holds, to know which fields lead on.
enum class Message { Graph, Node, Function, Attribute, Tensor, SparseTensor };

void collectLocations(Message kind, std::string_view bytes, unsigned depth,
                      std::set<std::string> &files) {
  if (depth > 64) // subgraphs nest; a deeper model is malformed
    return;
  WireFields fields(bytes);
  uint64_t field;
  std::string_view payload;
  auto into = [&](Message next) {
    collectLocations(next, payload, depth + 1, files);
  };
  while (fields.next(field, payload)) {
    switch (kind) {
    case Message::Graph:
      if (field == kGraphNode)
        into(Message::Node);
      else if (field == kGraphInitializer)
        into(Message::Tensor);
      else if (field == kGraphSparseInitializer)
        into(Message::SparseTensor);
      break;
    case Message::Node:
      if (field == kNodeAttribute)
        into(Message::Attribute);
      break;
    case Message::Function:
      if (field == kFunctionNode)
        into(Message::Node);
      break;
    case Message::Attribute:
      if (field == kAttrTensor || field == kAttrTensors)
        into(Message::Tensor);
      else if (field == kAttrGraph || field == kAttrGraphs)
        into(Message::Graph);
      else if (field == kAttrSparseTensor || field == kAttrSparseTensors)
        into(Message::SparseTensor);
      break;
    case Message::SparseTensor:
      if (field == kSparseValues || field == kSparseIndices)
        into(Message::Tensor);
      break;
    case Message::Tensor:
      if (field == kTensorExternalData) {
        WireFields entry(payload);
        uint64_t entryField;
        std::string_view text, key, value;
        while (entry.next(entryField, text)) {
          if (entryField == kEntryKey)
            key = text;
          else if (entryField == kEntryValue)
            value = text;
        }
        if (key == "location" && !value.empty())
          files.insert(std::string(value));
      }
      break;
    }
  }
}

std::string cacheDirectory() {
  if (const char *env = std::getenv("ATTN_MLIR_CACHE_DIR"))
    return env;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/attn-mlir";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/attn-mlir";
  return "/tmp/attn-mlir-cache-" + std::to_string(getuid());
}

/// Runs `argv` with its stdout sent to our stderr; returns the exit code.
int runProgram(const std::vector<std::string> &argv, std::string &error) {
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    error = "cannot run '" + argv[0] + "': " + std::strerror(rc);
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

} // namespace

std::vector<std::string>
attn::run::onnxExternalDataFiles(const std::string &bytes) {
  std::set<std::string> files;
  WireFields fields(bytes);
  uint64_t field;
  std::string_view payload;
  while (fields.next(field, payload)) {
    if (field == kModelGraph)
      collectLocations(Message::Graph, payload, 0, files);
    else if (field == kModelFunctions)
      collectLocations(Message::Function, payload, 0, files);
  }
  return {files.begin(), files.end()};
}

std::string attn::run::compileCached(const std::string &model,
                                     const std::vector<std::string> &compileArgs,
                                     const std::string &cacheDir,
                                     std::string &error) {
  std::string compiler = findAttnCompile();
  if (compiler.empty()) {
    error = "cannot find attn-compile (next to attn-run, on PATH, or in "
            "$ATTN_COMPILE) to compile '" + model + "'";
    return "";
  }
  std::ifstream in(model, std::ios::binary);
  if (!in) {
    error = "cannot open '" + model + "': " + std::strerror(errno);
    return "";
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  std::string bytes = std::move(contents).str();
  Hasher hash;
  hash.add(bytes);
  // Weights outside the .onnx file change the library as much as the model
  // does. A file that cannot be read is left to attn-compile to report.
  if (endsWithOnnx(model)) {
    std::string dir = directoryOf(model);
    for (const std::string &location : onnxExternalDataFiles(bytes)) {
      hash.add(location);
      std::ifstream data(dir + location, std::ios::binary);
      char buf[1 << 16];
      while (data && (data.read(buf, sizeof(buf)) || data.gcount() > 0))
        hash.add(buf, size_t(data.gcount()));
      hash.add(data.eof() ? "read" : "unreadable");
    }
  }
  struct stat st;
  if (stat(compiler.c_str(), &st) == 0) {
    hash.add(&st.st_size, sizeof(st.st_size));
    hash.add(&st.st_mtime, sizeof(st.st_mtime));
  }
  hash.add(compiler);
  for (const std::string &arg : compileArgs)
    hash.add(arg);

  std::string dir = cacheDir.empty() ? cacheDirectory() : cacheDir;
  if (!makeDirectories(dir)) {
    error = "cannot create the compile cache directory '" + dir + "'";
    return "";
  }
  char name[32];
  std::snprintf(name, sizeof(name), "%016llx.so",
                static_cast<unsigned long long>(hash.state));
  std::string library = dir + "/" + name;
  if (access(library.c_str(), R_OK) == 0)
    return library;

  // attn-compile writes its output atomically, so concurrent runs are safe.
  std::vector<std::string> argv = {compiler, model, "-o", library};
  argv.insert(argv.end(), compileArgs.begin(), compileArgs.end());
  int rc = runProgram(argv, error);
  if (rc != 0) {
    if (rc > 0)
      error = "compiling '" + model + "' with attn-compile failed";
    return "";
  }
  return library;
}
