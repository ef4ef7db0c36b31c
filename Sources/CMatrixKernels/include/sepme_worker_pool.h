// A pool of worker threads that wait for work by spinning a short while before they sleep, so that the
// many short parallel loops of a forward pass (a text encoder's layers, a small model's every operation)
// start on the other cores without waking a sleeping thread each time. `Parallel` (TensorEngine) is its
// only caller.
#ifndef SEPME_WORKER_POOL_H
#define SEPME_WORKER_POOL_H

#include <stddef.h>

/// One item of a loop: body(context, item).
typedef void (*sepme_pool_body)(void *context, ptrdiff_t item);

/// Starts `workers` threads (once per process; later calls return the first call's result). Returns
/// the number of threads running, 0 when none could be started.
int sepme_pool_start(int workers);

/// Runs body(context, i) for every i in [0, count), each exactly once, on the calling thread and the
/// pool's workers, and returns 1 after every call has returned. Returns 0 without calling `body` when
/// the pool has no workers or is running another loop (a nested call from inside a body, or a call from
/// another thread): the caller then runs the items itself.
int sepme_pool_run(ptrdiff_t count, sepme_pool_body body, void *context);

#endif
