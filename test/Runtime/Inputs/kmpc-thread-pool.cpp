// Exercises libAttnRuntime's __kmpc_* entry points the way code from
// convert-scf-to-openmp calls them; prints one line per check.
#include "attn-c/Runtime.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <set>
#include <sys/resource.h>
#include <thread>
#include <vector>

extern "C" {
struct ident_t;
typedef void (*kmpc_micro)(int32_t *, int32_t *, ...);
void __kmpc_fork_call(ident_t *, int32_t, kmpc_micro, ...);
int32_t __kmpc_global_thread_num(ident_t *);
void __kmpc_for_static_init_8u(ident_t *, int32_t, int32_t, int32_t *,
                               uint64_t *, uint64_t *, int64_t *, int64_t,
                               int64_t);
void __kmpc_for_static_init_4(ident_t *, int32_t, int32_t, int32_t *,
                              int32_t *, int32_t *, int32_t *, int32_t,
                              int32_t);
void __kmpc_for_static_fini(ident_t *, int32_t);
void __kmpc_barrier(ident_t *, int32_t);
int32_t __kmpc_reduce_nowait(ident_t *, int32_t, int32_t, size_t, void *,
                             void (*)(void *, void *), int32_t (*)[8]);
void __kmpc_end_reduce_nowait(ident_t *, int32_t, int32_t (*)[8]);
}

static int failures = 0;
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      std::printf("FAIL line %d: ", __LINE__);                                 \
      std::printf(__VA_ARGS__);                                                \
      std::printf("\n");                                                       \
    }                                                                          \
  } while (0)

struct Team {
  std::atomic<int> entered{0};
  std::atomic<uint64_t> tidMask{0};
};
static void countThreads(int32_t *gtid, int32_t *, Team *team) {
  team->entered++;
  team->tidMask |= 1ull << *gtid;
  CHECK(__kmpc_global_thread_num(nullptr) == *gtid, "gtid mismatch");
}

/// Unsigned 64-bit loop over [0, n) as OpenMPIRBuilder emits it.
struct Loop {
  uint64_t n;
  std::vector<std::atomic<int>> *hits;
};
static void staticLoop(int32_t *gtid, int32_t *, Loop *loop) {
  int32_t last = 0;
  uint64_t lb = 0, ub = loop->n - 1;
  int64_t stride = 1;
  __kmpc_for_static_init_8u(nullptr, *gtid, 34, &last, &lb, &ub, &stride, 1, 0);
  uint64_t trips = ub - lb + 1;
  for (uint64_t i = 0; i < trips; ++i)
    (*loop->hits)[lb + i]++;
  __kmpc_for_static_fini(nullptr, *gtid);
  __kmpc_barrier(nullptr, *gtid);
}

/// Signed loop with a negative step: i = 99, 96, ..., 0 (chunked schedule).
static void signedChunked(int32_t *gtid, int32_t *, std::atomic<int> *hits) {
  int32_t last = 0, lb = 99, ub = 0, stride = 0;
  __kmpc_for_static_init_4(nullptr, *gtid, 33, &last, &lb, &ub, &stride, -3, 2);
  for (; lb >= 0; lb += stride, ub += stride)
    for (int32_t i = lb; i >= (ub < 0 ? 0 : ub); i -= 3)
      hits[i]++;
}

struct Phases {
  std::atomic<int> arrived[8];
  std::atomic<int> errors{0};
  int n;
};
static void barrierPhases(int32_t *gtid, int32_t *, Phases *p) {
  for (int phase = 0; phase < 8; ++phase) {
    p->arrived[phase]++;
    __kmpc_barrier(nullptr, *gtid);
    if (p->arrived[phase].load() != p->n)
      p->errors++;
    __kmpc_barrier(nullptr, *gtid);
  }
}

static void inner(int32_t *gtid, int32_t *, Team *team) {
  countThreads(gtid, nullptr, team);
}
static void nested(int32_t *gtid, int32_t *, Team *teams) {
  // Each outer thread forks a team of one.
  __kmpc_fork_call(nullptr, 1, (kmpc_micro)inner, &teams[*gtid]);
}

static int32_t reductionLock[8];
static void sumReduce(int32_t *gtid, int32_t *, int64_t *total) {
  int64_t partial = *gtid + 1;
  if (__kmpc_reduce_nowait(nullptr, *gtid, 1, 8, &partial, nullptr,
                           &reductionLock) == 1) {
    *total += partial;
    __kmpc_end_reduce_nowait(nullptr, *gtid, &reductionLock);
  }
}

static void manyArgs(int32_t *, int32_t *, int *a, int *b, int *c, int *d,
                     int *e, int *f, int *g, int *h, int *i, int *j, int *k,
                     int *l, int *m, int *n, int *o, int *p, int *q,
                     std::atomic<int> *sum) {
  *sum += *a + *b + *c + *d + *e + *f + *g + *h + *i + *j + *k + *l + *m +
          *n + *o + *p + *q;
}

static double cpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

int main() {
  for (int threads : {1, 2, 3, 4}) {
    attnSetNumThreads(threads);
    Team team;
    __kmpc_fork_call(nullptr, 1, (kmpc_micro)countThreads, &team);
    CHECK(team.entered == threads && team.tidMask == (1ull << threads) - 1,
          "%d threads: entered %d", threads, team.entered.load());

    for (uint64_t n : {1, 2, 3, 5, 17, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      Loop loop{n, &hits};
      __kmpc_fork_call(nullptr, 1, (kmpc_micro)staticLoop, &loop);
      for (uint64_t i = 0; i < n; ++i)
        CHECK(hits[i] == 1, "threads %d n %lu: iteration %lu ran %d times",
              threads, (unsigned long)n, (unsigned long)i, hits[i].load());
    }

    std::atomic<int> signedHits[100] = {};
    __kmpc_fork_call(nullptr, 1, (kmpc_micro)signedChunked, signedHits);
    for (int i = 0; i < 100; ++i)
      CHECK(signedHits[i] == ((99 - i) % 3 == 0 ? 1 : 0),
            "signed chunked: %d ran %d times", i, signedHits[i].load());

    Phases phases;
    phases.n = threads;
    for (auto &a : phases.arrived)
      a = 0;
    __kmpc_fork_call(nullptr, 1, (kmpc_micro)barrierPhases, &phases);
    CHECK(phases.errors == 0, "barrier let %d threads through early",
          phases.errors.load());

    Team teams[4];
    __kmpc_fork_call(nullptr, 1, (kmpc_micro)nested, teams);
    for (int t = 0; t < threads; ++t)
      CHECK(teams[t].entered == 1 && teams[t].tidMask == 1,
            "nested region of thread %d", t);

    int64_t total = 0;
    __kmpc_fork_call(nullptr, 1, (kmpc_micro)sumReduce, &total);
    CHECK(total == threads * (threads + 1) / 2, "reduction gave %ld",
          (long)total);
  }
  std::printf("teams, static schedules, barriers, nesting, reductions: ok\n");

  int v[17];
  for (int i = 0; i < 17; ++i)
    v[i] = i;
  std::atomic<int> sum{0};
  attnSetNumThreads(2);
  __kmpc_fork_call(nullptr, 18, (kmpc_micro)manyArgs, &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                   &v[11], &v[12], &v[13], &v[14], &v[15], &v[16], &sum);
  CHECK(sum == 2 * 136, "18 arguments: sum %d", sum.load());
  std::printf("18 shared arguments: ok\n");

  // Repeated regions, from two host threads at once.
  auto hammer = [] {
    for (int r = 0; r < 2000; ++r) {
      std::vector<std::atomic<int>> hits(64);
      Loop loop{64, &hits};
      __kmpc_fork_call(nullptr, 1, (kmpc_micro)staticLoop, &loop);
      for (auto &h : hits)
        if (h != 1) {
          CHECK(false, "repeated region %d", r);
          return;
        }
    }
  };
  std::thread other(hammer);
  hammer();
  other.join();
  std::printf("repeated regions from two threads: ok\n");

  // An idle pool sleeps: 300 ms of idleness costs (almost) no CPU.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  double before = cpuSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double used = cpuSeconds() - before;
  CHECK(used < 0.05, "idle pool used %.3f s of CPU in 0.3 s", used);
  std::printf("idle pool sleeps: ok\n");

  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
