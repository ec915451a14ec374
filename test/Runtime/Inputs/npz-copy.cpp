// npz-copy IN.npz OUT.npz: reads an archive with attn::rt::readNpz, lists
// its arrays and writes them back with writeNpz. Exit 1 with the error
// message on malformed input.
#include "attn/Runtime/Npz.h"

#include <cstdio>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: npz-copy IN.npz OUT.npz\n");
    return 2;
  }
  std::vector<attn::rt::Array> arrays;
  std::string error;
  if (!attn::rt::readNpz(argv[1], arrays, error)) {
    std::printf("error: %s\n", error.c_str());
    return 1;
  }
  for (const attn::rt::Array &a : arrays) {
    std::printf("%s %s [", a.name.c_str(), attn::rt::dtypeName(a.dtype));
    for (size_t i = 0; i < a.shape.size(); ++i)
      std::printf("%s%lld", i ? ", " : "", (long long)a.shape[i]);
    std::printf("] %zu bytes\n", a.data.size());
  }
  if (!attn::rt::writeNpz(argv[2], arrays, error)) {
    std::printf("error: %s\n", error.c_str());
    return 1;
  }
  return 0;
}
