import Foundation
import Logging
import ParleyCore
import ParleyRedis
import ServiceLifecycle

/// Moves audit events from where requests queue them to the audit logs, until shutdown, when it
/// passes on what is queued before the storage closes.
///
/// - In process: drains the in-process queue into the logs.
/// - With Redis: sends the outbox to the Redis Stream and, unless `audit.worker` is `off`, runs
///   one of the workers that store the stream's events (`parley worker` runs more).
public final class AuditWorker: Service {
    static let batchSize = 200

    public enum Mode: Sendable {
        case inProcess(InProcessAuditQueue)
        case redis(RedisAuditStream, consumer: RedisAuditConsumer?)
    }

    let mode: Mode
    let writer: AuditWriter
    let metrics: any AuditMetrics
    /// How long, once shutdown began, queued events may take to be stored; then the rest goes to
    /// the dead-letter file (in process) or stays in Redis for another worker.
    let shutdownTimeout: Duration

    public init(mode: Mode, writer: AuditWriter, metrics: any AuditMetrics, shutdownTimeout: Duration = .seconds(5)) {
        self.mode = mode
        self.writer = writer
        self.metrics = metrics
        self.shutdownTimeout = shutdownTimeout
    }

    public func run() async throws {
        let writer = self.writer
        let timeout = shutdownTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Cancelled (the drain finished first) before or during the wait: nothing to do.
                guard (try? await gracefulShutdown()) != nil, (try? await Task.sleep(for: timeout)) != nil else { return }
                writer.abandonRetries()
            }
            await drain()
            group.cancelAll()
        }
    }

    private func drain() async {
        let writer = self.writer
        let metrics = self.metrics
        let timeout = shutdownTimeout
        switch mode {
        case .inProcess(let queue):
            // Shut down or cancelled (a server that could not start), the queue is drained and ends.
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    while let batch = await queue.next(maxCount: Self.batchSize) {
                        await writer.write(batch)
                        metrics.auditQueueDepth(queue.depth)
                    }
                } onGracefulShutdown: {
                    queue.finish()
                }
            } onCancel: {
                queue.finish()
            }
        case .redis(let stream, let consumer):
            await withTaskGroup(of: Void.self) { group in
                if let consumer {
                    group.addTask {
                        await cancelWhenGracefulShutdown {
                            await consumer.run(store: { events in try await writer.append(events) })
                        }
                    }
                }
                group.addTask {
                    await withTaskCancellationHandler {
                        await withGracefulShutdownHandler {
                            await stream.run(drainTimeout: timeout)
                        } onGracefulShutdown: {
                            stream.finish()
                        }
                    } onCancel: {
                        stream.finish()
                    }
                }
                group.addTask {
                    // The gauge shows what waits in this process's outbox (Redis holds the rest).
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            metrics.auditQueueDepth(stream.depth)
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                }
            }
        }
    }
}
