//===- CompileCache.cpp - compile .mlir/.onnx models for attn-run ---------===//
//
// Keys are FNV-1a hashes: the cache guards against stale results, not
// against an adversary who can write to it.
//
//===----------------------------------------------------------------------===//

#include "CompileCache.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
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

std::string attn::run::compileCached(const std::string &model,
                                     const std::vector<std::string> &compileArgs,
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
  Hasher hash;
  char buf[1 << 16];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0)
    hash.add(buf, size_t(in.gcount()));
  struct stat st;
  if (stat(compiler.c_str(), &st) == 0) {
    hash.add(&st.st_size, sizeof(st.st_size));
    hash.add(&st.st_mtime, sizeof(st.st_mtime));
  }
  hash.add(compiler);
  for (const std::string &arg : compileArgs)
    hash.add(arg);

  std::string dir = cacheDirectory();
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
