//===- ThreadPool.h - persistent worker threads for parallel regions -*- C++ -*-===//
//
// The team machinery behind the OpenMP entry points in KmpcEntryPoints.cpp.
// One process-wide pool of workers runs one parallel region at a time; the
// thread that starts a region is member 0 of its team. Idle workers spin
// briefly, then sleep on a condition variable.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_RUNTIME_THREADPOOL_H
#define ATTN_LIB_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace attn::rt {

/// A reusable barrier for a fixed number of threads.
class Barrier {
public:
  explicit Barrier(int numThreads) : numThreads(numThreads) {}
  void wait();

private:
  const int numThreads;
  std::atomic<int> arrived{0};
  std::atomic<uint32_t> generation{0};
  std::mutex mutex;
  std::condition_variable wakeup;
};

/// The threads of one parallel region.
struct Team {
  explicit Team(int numThreads) : numThreads(numThreads), barrier(numThreads) {}
  const int numThreads;
  Barrier barrier;
};

/// What a thread knows about the region it runs in.
struct ThreadState {
  Team *team = nullptr; // null outside a region and in serialised regions
  int threadId = 0;
  int numThreads = 1;
  int nesting = 0; // depth of parallel regions, serialised ones included
  int requestedThreads = 0; // from __kmpc_push_num_threads, for the next fork
};

/// The calling thread's state.
ThreadState &threadState();

/// Threads a parallel region uses, the caller included.
int getNumThreads();
void setNumThreads(int numThreads);

/// Calls `body(context, threadId)` on `numThreads` threads (the caller is
/// thread 0) with each thread's state set to the team; returns when all are
/// done. Runs on the caller alone when another region holds the pool.
void runParallel(int numThreads, void (*body)(void *context, int threadId),
                 void *context);

/// Calls `body(context, 0)` as a team of one (nested or serialised region).
void runSerial(void (*body)(void *context, int threadId), void *context);

} // namespace attn::rt

#endif // ATTN_LIB_RUNTIME_THREADPOOL_H
