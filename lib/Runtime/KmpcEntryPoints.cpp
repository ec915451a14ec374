//===- KmpcEntryPoints.cpp - the libomp entry points compiled models call -===//
//
// `convert-scf-to-openmp` plus LLVM's OpenMPIRBuilder turn parallel loops
// into calls of libomp's `__kmpc_*` ABI. This file implements the subset
// they use on top of ThreadPool, so a compiled model needs no OpenMP
// runtime: fork/join of a team, static worksharing, barriers, reductions and
// critical sections. Nested parallel regions run serially on the thread
// that forks them. Global thread ids are team-local here: the functions
// below read the calling thread's state rather than trust a `gtid`.
//
//===----------------------------------------------------------------------===//

#include "ThreadPool.h"

#include <array>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <type_traits>
#include <utility>

using namespace attn::rt;

#define ATTN_KMPC_API extern "C" __attribute__((visibility("default")))

struct ident_t; // source location, unused
using kmp_critical_name = int32_t[8];
using kmpc_micro = void (*)(int32_t *gtid, int32_t *btid, ...);

namespace {

constexpr size_t kMaxForkArgs = 32;

template <size_t>
using VoidPtr = void *;

/// Calls `fn(gtid, btid, args[0], ..., args[N-1])` with N fixed arguments,
/// as libomp's __kmp_invoke_microtask does.
template <size_t... I>
void invokeWith(kmpc_micro fn, int32_t *gtid, int32_t *btid, void **args,
                std::index_sequence<I...>) {
  using Fixed = void (*)(int32_t *, int32_t *, VoidPtr<I>...);
  reinterpret_cast<Fixed>(fn)(gtid, btid, args[I]...);
}

template <size_t N>
void invokeN(kmpc_micro fn, int32_t *gtid, int32_t *btid, void **args) {
  invokeWith(fn, gtid, btid, args, std::make_index_sequence<N>());
}

using Invoker = void (*)(kmpc_micro, int32_t *, int32_t *, void **);
template <size_t... N>
constexpr auto makeInvokers(std::index_sequence<N...>) {
  return std::array<Invoker, sizeof...(N)>{&invokeN<N>...};
}

struct ForkContext {
  kmpc_micro microtask;
  int32_t argc;
  void *args[kMaxForkArgs];
};

void runMicrotask(void *context, int threadId) {
  static constexpr auto kInvokers =
      makeInvokers(std::make_index_sequence<kMaxForkArgs + 1>());
  auto *fork = static_cast<ForkContext *>(context);
  int32_t gtid = threadId, btid = threadId;
  kInvokers[fork->argc](fork->microtask, &gtid, &btid, fork->args);
}

/// States saved by __kmpc_serialized_parallel, restored by its end.
std::vector<ThreadState> &serializedStack() {
  static thread_local std::vector<ThreadState> stack;
  return stack;
}

std::mutex &lockFor(kmp_critical_name *name) {
  static std::mutex guard;
  static auto *locks = new std::map<void *, std::unique_ptr<std::mutex>>();
  std::lock_guard<std::mutex> lock(guard);
  std::unique_ptr<std::mutex> &slot = (*locks)[name];
  if (!slot)
    slot = std::make_unique<std::mutex>();
  return *slot;
}

/// The static schedule: kmp_sch_static_chunked (33) deals chunks round-robin,
/// every other schedule splits the iteration space [*lower, *upper]
/// (inclusive, step `incr`) into one balanced block per thread.
template <typename T, typename ST>
void staticInit(int32_t schedule, int32_t *isLast, T *lower, T *upper,
                ST *stride, ST incr, ST chunk) {
  using UT = std::make_unsigned_t<T>;
  const ThreadState &state = threadState();
  const UT numThreads = UT(state.numThreads), tid = UT(state.threadId);
  const T lo = *lower, hi = *upper;

  UT trips;
  if (incr == 0)
    trips = lo == hi ? 1 : 0;
  else if (incr > 0)
    trips = hi < lo ? 0 : (UT(hi) - UT(lo)) / UT(incr) + 1;
  else
    trips = lo < hi ? 0 : (UT(lo) - UT(hi)) / (UT(0) - UT(incr)) + 1;
  if (isLast)
    *isLast = 0;
  if (trips == 0) {
    *stride = incr;
    return;
  }

  if (schedule == 33 && chunk > 0) {
    UT span = UT(chunk) * UT(incr);
    *lower = T(UT(lo) + tid * span);
    *upper = T(UT(*lower) + span - UT(incr));
    *stride = ST(span * numThreads);
    if (isLast)
      *isLast = tid == ((trips - 1) / UT(chunk)) % numThreads;
    return;
  }

  UT base = trips / numThreads, extra = trips % numThreads;
  UT begin = tid * base + (tid < extra ? tid : extra);
  UT count = base + (tid < extra ? 1 : 0);
  if (count == 0) {
    // Empty: upper - lower + incr == 0, as in libomp.
    *lower = T(UT(hi) + UT(incr));
    *upper = hi;
  } else {
    *lower = T(UT(lo) + begin * UT(incr));
    *upper = T(UT(lo) + (begin + count - 1) * UT(incr));
    if (isLast)
      *isLast = begin + count == trips;
  }
  *stride = ST(trips * UT(incr));
}

} // namespace

ATTN_KMPC_API int32_t __kmpc_global_thread_num(ident_t *) {
  return threadState().threadId;
}

ATTN_KMPC_API void __kmpc_push_num_threads(ident_t *, int32_t,
                                           int32_t numThreads) {
  threadState().requestedThreads = numThreads;
}

ATTN_KMPC_API void __kmpc_fork_call(ident_t *, int32_t argc,
                                    kmpc_micro microtask, ...) {
  if (argc < 0 || size_t(argc) > kMaxForkArgs) {
    std::fprintf(stderr,
                 "attn runtime: __kmpc_fork_call with %d arguments (at most "
                 "%zu are supported)\n",
                 argc, kMaxForkArgs);
    std::abort();
  }
  ForkContext fork;
  fork.microtask = microtask;
  fork.argc = argc;
  va_list ap;
  va_start(ap, microtask);
  for (int32_t i = 0; i < argc; ++i)
    fork.args[i] = va_arg(ap, void *);
  va_end(ap);

  ThreadState &state = threadState();
  int numThreads = state.requestedThreads > 0 ? state.requestedThreads
                                              : getNumThreads();
  state.requestedThreads = 0;
  runParallel(numThreads, runMicrotask, &fork);
}

ATTN_KMPC_API void __kmpc_serialized_parallel(ident_t *, int32_t) {
  ThreadState &state = threadState();
  serializedStack().push_back(state);
  state.team = nullptr;
  state.threadId = 0;
  state.numThreads = 1;
  state.nesting += 1;
  state.requestedThreads = 0;
}

ATTN_KMPC_API void __kmpc_end_serialized_parallel(ident_t *, int32_t) {
  std::vector<ThreadState> &stack = serializedStack();
  if (stack.empty())
    return;
  threadState() = stack.back();
  stack.pop_back();
}

ATTN_KMPC_API void __kmpc_for_static_init_4(ident_t *, int32_t,
                                            int32_t schedule, int32_t *isLast,
                                            int32_t *lower, int32_t *upper,
                                            int32_t *stride, int32_t incr,
                                            int32_t chunk) {
  staticInit<int32_t, int32_t>(schedule, isLast, lower, upper, stride, incr,
                               chunk);
}

ATTN_KMPC_API void __kmpc_for_static_init_4u(ident_t *, int32_t,
                                             int32_t schedule, int32_t *isLast,
                                             uint32_t *lower, uint32_t *upper,
                                             int32_t *stride, int32_t incr,
                                             int32_t chunk) {
  staticInit<uint32_t, int32_t>(schedule, isLast, lower, upper, stride, incr,
                                chunk);
}

ATTN_KMPC_API void __kmpc_for_static_init_8(ident_t *, int32_t,
                                            int32_t schedule, int32_t *isLast,
                                            int64_t *lower, int64_t *upper,
                                            int64_t *stride, int64_t incr,
                                            int64_t chunk) {
  staticInit<int64_t, int64_t>(schedule, isLast, lower, upper, stride, incr,
                               chunk);
}

ATTN_KMPC_API void __kmpc_for_static_init_8u(ident_t *, int32_t,
                                             int32_t schedule, int32_t *isLast,
                                             uint64_t *lower, uint64_t *upper,
                                             int64_t *stride, int64_t incr,
                                             int64_t chunk) {
  staticInit<uint64_t, int64_t>(schedule, isLast, lower, upper, stride, incr,
                                chunk);
}

ATTN_KMPC_API void __kmpc_for_static_fini(ident_t *, int32_t) {}

ATTN_KMPC_API void __kmpc_barrier(ident_t *, int32_t) {
  if (Team *team = threadState().team)
    team->barrier.wait();
}

ATTN_KMPC_API void __kmpc_flush(ident_t *) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

ATTN_KMPC_API int32_t __kmpc_master(ident_t *, int32_t) {
  return threadState().threadId == 0;
}

ATTN_KMPC_API void __kmpc_end_master(ident_t *, int32_t) {}

ATTN_KMPC_API void __kmpc_critical(ident_t *, int32_t,
                                   kmp_critical_name *name) {
  lockFor(name).lock();
}

ATTN_KMPC_API void __kmpc_end_critical(ident_t *, int32_t,
                                       kmp_critical_name *name) {
  lockFor(name).unlock();
}

// Reductions use libomp's "critical section" method: every thread gets 1
// (combine your partial result into the shared one yourself) while holding
// the reduction's lock, which the matching end call releases.
ATTN_KMPC_API int32_t __kmpc_reduce_nowait(ident_t *, int32_t, int32_t,
                                           size_t, void *,
                                           void (*)(void *, void *),
                                           kmp_critical_name *lock) {
  lockFor(lock).lock();
  return 1;
}

ATTN_KMPC_API void __kmpc_end_reduce_nowait(ident_t *, int32_t,
                                            kmp_critical_name *lock) {
  lockFor(lock).unlock();
}

ATTN_KMPC_API int32_t __kmpc_reduce(ident_t *, int32_t, int32_t, size_t,
                                    void *, void (*)(void *, void *),
                                    kmp_critical_name *lock) {
  lockFor(lock).lock();
  return 1;
}

ATTN_KMPC_API void __kmpc_end_reduce(ident_t *, int32_t,
                                     kmp_critical_name *lock) {
  lockFor(lock).unlock();
  if (Team *team = threadState().team)
    team->barrier.wait();
}
