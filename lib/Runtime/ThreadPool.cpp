//===- ThreadPool.cpp - persistent worker threads for parallel regions ----===//

#include "ThreadPool.h"

#include <chrono>
#include <thread>
#include <cstdlib>

using namespace attn::rt;

namespace {

/// How a waiting thread waits: it spins with `pause` for kPauseTime, then
/// keeps polling but yields its core (sched_yield) until kSpinTime, then
/// sleeps on a condition variable, so an idle pool costs no CPU.
/// - Waking a sleeping thread took ~400 us on the 2-vCPU VM of bench/ (a
///   3-us attention region cost 430 us when threads slept after 100 us), so
///   threads keep polling for milliseconds between the loops of a model run
///   and between the steps of a decode loop, as libgomp and libomp do.
/// - Yielding matters when the machine is oversubscribed: a thread that
///   polls without yielding holds the core that the thread it waits for
///   needs (68 ms instead of 0.3 ms per decode step with a busy second core).
constexpr std::chrono::microseconds kPauseTime(50);
constexpr std::chrono::microseconds kSpinTime(2000);

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Polls until `ready()` or kSpinTime has passed; returns `ready()`.
template <typename Ready>
bool spinUntil(Ready ready) {
  auto start = std::chrono::steady_clock::now();
  bool yielding = false;
  for (unsigned i = 1;; ++i) {
    if (ready())
      return true;
    if (yielding)
      std::this_thread::yield();
    else
      cpuRelax();
    if (yielding || (i & 255) == 0) {
      auto waited = std::chrono::steady_clock::now() - start;
      if (waited > kSpinTime)
        return ready();
      yielding = waited > kPauseTime;
    }
  }
}

int defaultNumThreads() {
  if (const char *env = std::getenv("ATTN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}

/// Runs `body` with the calling thread's state set to the given team member.
void runAs(Team *team, int threadId, int numThreads,
           void (*body)(void *, int), void *context) {
  ThreadState &state = threadState();
  ThreadState saved = state;
  state.team = team;
  state.threadId = threadId;
  state.numThreads = numThreads;
  state.nesting = saved.nesting + 1;
  state.requestedThreads = 0;
  body(context, threadId);
  state = saved;
}

class Pool {
public:
  /// Never destroyed: workers may still be asleep when the process exits.
  static Pool &get() {
    static Pool *pool = new Pool();
    return *pool;
  }

  int numThreads() const { return threads.load(std::memory_order_relaxed); }
  void setNumThreads(int n) {
    threads.store(n < 1 ? 1 : n, std::memory_order_relaxed);
  }

  /// Runs a region of `n` threads; false if another region holds the pool.
  bool tryRun(int n, void (*body)(void *, int), void *context) {
    if (!runMutex.try_lock())
      return false;
    std::lock_guard<std::mutex> guard(runMutex, std::adopt_lock);
    while (int(workers.size()) < n - 1)
      workers.emplace_back(&Pool::workerLoop, this, int(workers.size()),
                           generation.load(std::memory_order_relaxed));

    Team team(n);
    job = {body, context, &team, n};
    // Every worker takes part in every generation; those past the team
    // size just report back.
    pending.store(int(workers.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex);
      generation.fetch_add(1, std::memory_order_release);
    }
    workAvailable.notify_all();

    runAs(&team, 0, n, body, context);

    auto allDone = [&] { return pending.load(std::memory_order_acquire) == 0; };
    if (!spinUntil(allDone)) {
      std::unique_lock<std::mutex> lock(mutex);
      workDone.wait(lock, allDone);
    }
    return true;
  }

private:
  Pool() : threads(defaultNumThreads()) {}

  void workerLoop(int index, uint64_t seen) {
    auto newWork = [&] {
      return generation.load(std::memory_order_acquire) != seen;
    };
    while (true) {
      if (!spinUntil(newWork)) {
        std::unique_lock<std::mutex> lock(mutex);
        workAvailable.wait(lock, newWork);
      }
      seen = generation.load(std::memory_order_acquire);
      Job current = job;
      if (index + 1 < current.numThreads)
        runAs(current.team, index + 1, current.numThreads, current.body,
              current.context);
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        workDone.notify_one();
      }
    }
  }

  struct Job {
    void (*body)(void *, int);
    void *context;
    Team *team;
    int numThreads;
  };

  std::atomic<int> threads;
  std::mutex runMutex; // held by the region that uses the workers
  std::vector<std::thread> workers;
  Job job{};           // written before `generation` is bumped
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  std::mutex mutex;
  std::condition_variable workAvailable, workDone;
};

} // namespace

void Barrier::wait() {
  if (numThreads <= 1)
    return;
  uint32_t current = generation.load(std::memory_order_acquire);
  if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == numThreads) {
    arrived.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex);
      generation.fetch_add(1, std::memory_order_release);
    }
    wakeup.notify_all();
    return;
  }
  auto released = [&] {
    return generation.load(std::memory_order_acquire) != current;
  };
  if (spinUntil(released))
    return;
  std::unique_lock<std::mutex> lock(mutex);
  wakeup.wait(lock, released);
}

ThreadState &attn::rt::threadState() {
  static thread_local ThreadState state;
  return state;
}

int attn::rt::getNumThreads() { return Pool::get().numThreads(); }

void attn::rt::setNumThreads(int numThreads) {
  Pool::get().setNumThreads(numThreads);
}

void attn::rt::runSerial(void (*body)(void *, int), void *context) {
  runAs(nullptr, 0, 1, body, context);
}

void attn::rt::runParallel(int numThreads, void (*body)(void *, int),
                           void *context) {
  if (numThreads <= 1 || threadState().nesting > 0 ||
      !Pool::get().tryRun(numThreads, body, context))
    runSerial(body, context);
}
