#include "parley_executor.h"

#include <stddef.h>

// The Swift runtime's hook (swift/Runtime/Concurrency.h): when set, swift_task_enqueueGlobal calls
// it instead of handing the job to its own pool. Declared here because a binary with a static
// Swift runtime does not export it for dlsym, so SwiftNIO's own installer cannot find it there;
// a link-time reference finds it in both static and shared runtimes.
typedef __attribute__((swiftcall)) void (*parley_original_enqueue)(void *job);
typedef __attribute__((swiftcall)) void (*parley_enqueue_hook)(void *job, parley_original_enqueue original);
extern parley_enqueue_hook swift_task_enqueueGlobal_hook;

static parley_job_sink parley_sink;

static __attribute__((swiftcall)) void parley_enqueue(void *job, parley_original_enqueue original) {
    (void)original;
    parley_sink(job);
}

int parley_install_global_enqueue(parley_job_sink sink) {
    parley_enqueue_hook expected = NULL;
    parley_sink = sink;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, parley_enqueue, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST)
               ? 1
               : 0;
}
