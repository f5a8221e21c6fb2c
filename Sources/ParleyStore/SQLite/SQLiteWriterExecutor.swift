import NIOCore
import NIOPosix

/// Where the SQLite writers' group commits run: a thread of their own. A group commit is a chain
/// of statements (BEGIN, each write, COMMIT), each run on the blocking pool and resumed after;
/// resumed on the event loops, every link waited behind the HTTP work queued there, and under
/// load the chain, which every write request waits for, took tens of milliseconds. Here each
/// resumption runs at once. The thread only sequences: the statements still run on the pool.
final class SQLiteWriterExecutor: TaskExecutor {
    static let shared = SQLiteWriterExecutor()

    private let loop: any EventLoop

    private init() {
        loop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
