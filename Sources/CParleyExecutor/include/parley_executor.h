#ifndef PARLEY_EXECUTOR_H
#define PARLEY_EXECUTOR_H

/// Receives every job Swift Concurrency enqueues on its global executor.
typedef void (*parley_job_sink)(void *_Nonnull job);

/// Routes the global executor's jobs to `sink` instead of the runtime's thread pool, through the
/// runtime's enqueue hook. Returns 0 (and changes nothing) when a hook is already installed.
int parley_install_global_enqueue(parley_job_sink _Nonnull sink);

#endif
