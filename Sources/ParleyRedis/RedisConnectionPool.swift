import Logging
import NIOCore
import NIOPosix
import ParleyCore
import Synchronization
import Tracing

/// A few shared, pipelined connections (round robin), reconnected on demand.
///
/// - A closed connection (Redis restarted, a timeout closed it) is replaced by the next request
///   that lands on its slot: nothing to restart when Redis comes back.
/// - A failed connect makes the whole pool fail fast for `reconnectBackoff`, so while Redis is
///   down a request costs microseconds, not a connect timeout (the limiter's fail-open path and
///   readiness depend on that).
/// - A command that could not be written because its connection had just closed is sent once
///   more on a fresh connection (it never reached Redis, so that is always safe); a command that
///   may have run is never repeated here.
/// - Blocking commands use `withDedicatedConnection`, never the shared ones.
public final class RedisConnectionPool: RedisClient {
    private enum SlotState {
        case idle
        case connecting(Task<RedisConnection, any Error>)
        case connected(RedisConnection)
    }

    private final class Slot: Sendable {
        let state = Mutex(SlotState.idle)
    }

    public let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let slots: [Slot]
    private let cursor = Atomic<Int>(0)
    private let isShutDown = Atomic<Bool>(false)
    /// Set when a connect fails: until then, requests that would connect fail at once.
    private let backoff = Mutex<(until: ContinuousClock.Instant, reason: String)?>(nil)
    private let failedCommands = Atomic<Int>(0)

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.slots = (0..<max(1, configuration.poolSize)).map { _ in Slot() }
    }

    public func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        try await traced(command.name) { try await counted { try await withConnection { try await $0.send(command, timeout: timeout) } } }
    }

    public func pipeline(_ commands: [RESPCommand], timeout: Duration?) async throws -> [RESPValue] {
        let names = commands.map(\.name)
        return try await traced(Set(names).count == 1 ? names[0] : "PIPELINE") {
            try await counted { try await withConnection { try await $0.pipeline(commands, timeout: timeout) } }
        }
    }

    /// A `redis {COMMAND}` client span, inside a traced request only (keys and values stay out).
    private func traced<Result: Sendable>(_ operation: String, _ body: () async throws -> Result) async throws -> Result {
        guard InstrumentationContext.current != nil else { return try await body() }
        return try await withSpan("redis \(operation)", ofKind: .client) { span in
            span.attributes[Telemetry.dbSystem] = "redis"
            span.attributes[Telemetry.dbSystemName] = "redis"
            span.attributes[Telemetry.dbOperation] = operation
            span.attributes[Telemetry.dbNamespace] = String(configuration.database)
            return try await body()
        }
    }

    /// Connections configured (`redis.poolSize`).
    public var size: Int { slots.count }

    /// Connections open now.
    public var openConnections: Int {
        slots.reduce(0) { count, slot in
            count + slot.state.withLock { state in
                if case .connected(let connection) = state, !connection.isClosed { 1 } else { 0 }
            }
        }
    }

    /// Commands and pipelines that failed since start because Redis could not answer (unreachable,
    /// timed out, connection lost, garbled reply). Error replies (`NOSCRIPT`, `WRONGTYPE`) are
    /// Redis answering, and callers handle them: not counted.
    public var failures: Int { failedCommands.load(ordering: .relaxed) }

    private func counted<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as RedisServerError {
            throw error
        } catch {
            failedCommands.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// `PING` within `timeout`: for readiness.
    public func checkHealth(timeout: Duration = .seconds(1)) async throws {
        let reply = try await send(RESPCommand("PING"), timeout: timeout)
        guard reply.string == "PONG" else {
            throw RedisClientError.unexpectedReply(command: "PING", reply: "\(reply)")
        }
    }

    /// A connection of the caller's own for `body` (blocking reads), closed afterwards.
    public func withDedicatedConnection<Result: Sendable>(
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await RedisConnection.connect(
            configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Closes every shared connection; later requests fail.
    public func shutdown() async {
        isShutDown.store(true, ordering: .relaxed)
        for slot in slots {
            let state = slot.state.withLock { state -> SlotState in
                defer { state = .idle }
                return state
            }
            switch state {
            case .connected(let connection): try? await connection.close()
            case .connecting(let task): if let connection = try? await task.value { try? await connection.close() }
            case .idle: break
            }
        }
    }

    private func withConnection<Result: Sendable>(
        _ body: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let slot = slots[Int(UInt(bitPattern: cursor.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(slots.count))]
        let connection = try await connection(in: slot)
        do {
            return try await body(connection)
        } catch RedisClientError.connectionClosed(requestSent: false) {
            // Never reached Redis: once more, on a fresh connection.
            return try await body(try await self.connection(in: slot))
        }
    }

    private func connection(in slot: Slot) async throws -> RedisConnection {
        guard !isShutDown.load(ordering: .relaxed) else { throw RedisClientError.unavailable("the pool is shut down") }
        enum Step {
            case ready(RedisConnection)
            case wait(Task<RedisConnection, any Error>)
            case fail(String)
        }
        let configuration = self.configuration
        let group = self.eventLoopGroup
        let logger = self.logger
        let backingOff = backoff.withLock { backoff in backoff.flatMap { ContinuousClock.now < $0.until ? $0.reason : nil } }
        let step = slot.state.withLock { state -> Step in
            switch state {
            case .connected(let connection) where !connection.isClosed:
                return .ready(connection)
            case .connecting(let task):
                return .wait(task)
            case .connected, .idle:
                if let backingOff { return .fail(backingOff) }
                // Unstructured on purpose: one connect serves every waiter, and a waiter that is
                // cancelled does not cancel the others' connect.
                let task = Task {
                    try await RedisConnection.connect(configuration: configuration, eventLoopGroup: group, logger: logger)
                }
                state = .connecting(task)
                return .wait(task)
            }
        }
        switch step {
        case .ready(let connection):
            return connection
        case .fail(let reason):
            throw RedisClientError.unavailable(reason)
        case .wait(let task):
            do {
                let connection = try await task.value
                slot.state.withLock { state in
                    if case .connecting = state { state = .connected(connection) }
                }
                return connection
            } catch {
                let reason = "\(error)"
                let first = slot.state.withLock { state -> Bool in
                    guard case .connecting = state else { return false }
                    state = .idle
                    return true
                }
                if first {
                    backoff.withLock { $0 = (ContinuousClock.now + configuration.reconnectBackoff, reason) }
                    logger.warning("Redis connect failed", metadata: ["error": "\(reason)"])
                }
                throw (error as? RedisClientError) ?? RedisClientError.unavailable(reason)
            }
        }
    }
}
