// The worker pool of sepme_worker_pool.h.
//
// One loop runs at a time. Its description (body, context, count) sits in globals that the caller
// writes only while no worker can read them. `generation` tells the workers what to do: even while no
// loop is open, odd while one is (each loop moves it from even to odd and back). Items are claimed with
// an atomic counter and counted down as they finish; the caller claims items too.
//
// A worker reads a loop's description only between announcing itself (`inside` + 1) and checking that
// the generation it saw is still current; the caller closes a loop (generation back to even) and then
// waits for `inside` to drop to zero before it returns. Both sides write one variable and read the other
// with sequentially consistent atomics, so either the worker sees the loop closed and leaves, or the
// caller sees the worker inside and waits for it: no worker touches a loop whose caller has returned.
//
// Waiting: a worker with nothing to do spins (with the pause hint) for `SPIN_NS` after the last change
// it saw, then sleeps on a condition variable; opening a loop wakes sleepers. A worker woken for a loop
// that finished before it arrived spins again, so it is awake for the next one. The caller, once its
// share is done, spins for the others' items the same while, then sleeps until the last item's finisher
// signals it. Spinning keeps a loop that follows another within the spin time from paying a thread
// wake-up, which costs tens of microseconds on a virtual machine; sleeping keeps an idle process from
// burning its cores.
#include "sepme_worker_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

// The processor's pause hint in spin loops (it yields the core's resources to a sibling hardware thread).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void relax(void) { __asm__ __volatile__("yield" ::: "memory"); }
#else
static inline void relax(void) { __asm__ __volatile__("" ::: "memory"); }
#endif

// How long a thread with nothing to do spins before it sleeps.
#define SPIN_NS 200000
// Pause hints (each followed by a read of the generation) between two readings of the clock.
#define SPINS_PER_CLOCK 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;

static _Atomic uint64_t generation;     // odd while a loop is open
static _Atomic ptrdiff_t next_item;     // the next unclaimed item of the open loop
static _Atomic ptrdiff_t unfinished;    // items of the open loop not yet returned
static _Atomic int inside;              // workers reading the open loop's description
static _Atomic int sleeping_workers;    // workers waiting on work_ready
static _Atomic int caller_sleeping;     // the caller waits on work_done
static _Atomic int busy;                // a caller holds the pool

static sepme_pool_body loop_body;
static void *loop_context;
static ptrdiff_t loop_count;

static pthread_once_t started = PTHREAD_ONCE_INIT;
static _Atomic int requested_workers;  // the first sepme_pool_start's count (-1: none)
static int running_workers;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Claims and runs items of the open loop until none is left; the finisher of the last item wakes a
// sleeping caller.
static void drain(void) {
    for (;;) {
        ptrdiff_t item = atomic_fetch_add(&next_item, 1);
        if (item >= loop_count) return;
        loop_body(loop_context, item);
        if (atomic_fetch_sub(&unfinished, 1) == 1 && atomic_load(&caller_sleeping)) {
            pthread_mutex_lock(&lock);
            pthread_cond_signal(&work_done);
            pthread_mutex_unlock(&lock);
        }
    }
}

// True when generation `g` is an open loop that this worker has not yet joined.
static inline int is_new_loop(uint64_t g, uint64_t joined) { return (g & 1) && g != joined; }

// Returns once the generation differs from `seen` (a loop opened or closed): spinning for up to SPIN_NS,
// then asleep until a loop opens. The caller re-reads the generation and waits again if nothing is new,
// so a worker woken by a loop it arrives too late for spins through the next one instead of sleeping.
static void wait_for_change(uint64_t seen) {
    uint64_t start = now_ns();
    for (unsigned spins = 1;; spins++) {
        relax();
        if (atomic_load(&generation) != seen) return;
        if (spins % SPINS_PER_CLOCK == 0 && now_ns() - start > SPIN_NS) break;
    }
    pthread_mutex_lock(&lock);
    atomic_fetch_add(&sleeping_workers, 1);
    while (atomic_load(&generation) == seen) pthread_cond_wait(&work_ready, &lock);
    atomic_fetch_sub(&sleeping_workers, 1);
    pthread_mutex_unlock(&lock);
}

static void *worker_main(void *unused) {
    (void)unused;
    uint64_t joined = 0;  // the last generation this worker joined
    for (;;) {
        uint64_t g = atomic_load(&generation);
        if (!is_new_loop(g, joined)) {
            wait_for_change(g);
            continue;
        }
        atomic_fetch_add(&inside, 1);
        if (atomic_load(&generation) == g) drain();
        atomic_fetch_sub(&inside, 1);
        joined = g;
    }
    return NULL;
}

static void start_workers(void) {
    int workers = atomic_load(&requested_workers);
    for (int w = 0; w < workers; w++) {
        pthread_t thread;
        pthread_attr_t attributes;
        if (pthread_attr_init(&attributes) != 0) break;
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, NULL);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        running_workers++;
    }
}

int sepme_pool_start(int workers) {
    int unset = 0;
    atomic_compare_exchange_strong(&requested_workers, &unset, workers > 0 ? workers : -1);
    pthread_once(&started, start_workers);
    return running_workers;
}

int sepme_pool_run(ptrdiff_t count, sepme_pool_body body, void *context) {
    if (count <= 0) return 1;
    if (running_workers == 0) return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&busy, &expected, 1)) return 0;
    // No worker is inside (the previous loop waited them out), so the description is ours to write.
    loop_body = body;
    loop_context = context;
    loop_count = count;
    atomic_store(&next_item, 0);
    atomic_store(&unfinished, count);
    atomic_fetch_add(&generation, 1);  // open
    if (atomic_load(&sleeping_workers) > 0) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&work_ready);
        pthread_mutex_unlock(&lock);
    }
    drain();
    if (atomic_load(&unfinished) > 0) {
        uint64_t start = now_ns();
        for (;;) {
            for (int s = 0; s < SPINS_PER_CLOCK && atomic_load(&unfinished) > 0; s++) relax();
            if (atomic_load(&unfinished) == 0) break;
            if (now_ns() - start > SPIN_NS) {
                pthread_mutex_lock(&lock);
                atomic_store(&caller_sleeping, 1);
                while (atomic_load(&unfinished) > 0) pthread_cond_wait(&work_done, &lock);
                atomic_store(&caller_sleeping, 0);
                pthread_mutex_unlock(&lock);
                break;
            }
        }
    }
    atomic_fetch_add(&generation, 1);  // closed
    while (atomic_load(&inside) > 0) relax();
    atomic_store(&busy, 0);
    return 1;
}
