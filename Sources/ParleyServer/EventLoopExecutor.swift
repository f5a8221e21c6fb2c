import CParleyExecutor
import NIOCore
import NIOPosix

/// Runs Swift Concurrency's tasks on SwiftNIO's event loops instead of the runtime's own thread
/// pool. Every socket Parley uses (HTTP server, PostgreSQL, Redis, the model client) lives on
/// `MultiThreadedEventLoopGroup.singleton`; without this, each await on one of them moves the task
/// from a pool thread to the event loop and back, a futex wake-up and a context switch each way.
/// A job enqueued from an event loop stays on it.
///
/// Safe because nothing in Parley blocks a thread inside a task: SQLite runs on `NIOThreadPool`,
/// and timers keep their own queue. Installed once, before the server starts
/// (`runtime.eventLoopExecutor`).
public enum EventLoopExecutor {
    /// Whether the hook was installed (false when another one already was).
    @discardableResult
    public static func install() -> Bool {
        parley_install_global_enqueue { job in
            MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(ExecutorJob(unsafeBitCast(job, to: UnownedJob.self)))
        } == 1
    }
}
