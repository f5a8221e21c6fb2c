import Logging
import NIOCore
import NIOPosix

/// Something that runs Redis commands: one connection, or the pool.
public protocol RedisClient: Sendable {
    /// Sends one command and waits for its reply. An error reply is thrown as `RedisServerError`.
    /// `timeout` overrides the configured command timeout (blocking commands pass block + margin).
    func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue
    /// Sends the commands in one write and returns their replies in order, error replies included
    /// as `.error` values (one failing command does not hide the others' results).
    func pipeline(_ commands: [RESPCommand], timeout: Duration?) async throws -> [RESPValue]
}

extension RedisClient {
    public func send(_ command: RESPCommand) async throws -> RESPValue {
        try await send(command, timeout: nil)
    }
}

/// What the request handler receives from `RedisConnection`: a command and where its reply goes.
struct RESPRequest: Sendable {
    var command: RESPCommand
    var reply: EventLoopPromise<RESPValue>
    var deadline: NIODeadline?
}

/// Matches replies to requests: Redis answers in order, so a FIFO of promises is all the state
/// pipelining needs. Lives on the channel's event loop; never touched from elsewhere.
///
/// Any failure of the stream (a timeout, a protocol error, EOF) fails every pending request and
/// closes the channel: once one reply is missing, later replies cannot be matched safely.
final class RESPRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = RESPCommand

    private struct Pending {
        var id: UInt64
        var reply: EventLoopPromise<RESPValue>
        var timer: Scheduled<Void>?
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var nextID: UInt64 = 0
    private var closed = false
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        guard !closed else {
            request.reply.fail(RedisClientError.connectionClosed(requestSent: false))
            promise?.fail(RedisClientError.connectionClosed(requestSent: false))
            return
        }
        nextID &+= 1
        let id = nextID
        var timer: Scheduled<Void>?
        if let deadline = request.deadline {
            // assumeIsolated: the closure may capture the (non-Sendable) handler and context,
            // because it runs on this event loop.
            timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
                guard pending.contains(where: { $0.id == id }) else { return }
                logger.debug("Redis reply timed out; closing the connection", metadata: ["pending": "\(pending.count)"])
                failAll(RedisClientError.timeout, context: context)
            }
        }
        pending.append(Pending(id: id, reply: request.reply, timer: timer))
        context.write(Self.wrapOutboundOut(request.command), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = Self.unwrapInboundIn(data)
        guard let first = pending.popFirst() else {
            failAll(RedisClientError.protocolError("a reply nobody asked for"), context: context)
            return
        }
        first.timer?.cancel()
        first.reply.succeed(value)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        failPending(RedisClientError.connectionClosed(requestSent: true))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Decoder errors arrive here too (ByteToMessageHandler fires them).
        failAll(error, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closed = true
        failPending(RedisClientError.connectionClosed(requestSent: true))
    }

    private func failAll(_ error: any Error, context: ChannelHandlerContext) {
        guard !closed else { return }
        closed = true
        failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: any Error) {
        while let entry = pending.popFirst() {
            entry.timer?.cancel()
            entry.reply.fail(error)
        }
    }
}

@available(*, unavailable)
extension RESPRequestHandler: Sendable {}

/// One TCP connection to Redis, authenticated and on its database, shared by concurrent callers
/// (commands are pipelined: each caller's reply comes back in order on the same socket).
///
/// Never use a shared connection for a blocking command (`XREADGROUP … BLOCK`, `BLPOP`): every
/// command queued behind it would wait for the block to end. Blocking reads get a connection of
/// their own (`RedisConnectionPool.withDedicatedConnection`).
public final class RedisConnection: RedisClient {
    public let configuration: RedisConfiguration
    let channel: any Channel
    private let logger: Logger

    private init(configuration: RedisConfiguration, channel: any Channel, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
    }

    public var isClosed: Bool { !channel.isActive }

    /// Connects, then `AUTH`, `SELECT` and `CLIENT SETNAME` as configured.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .connect(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(RESPValueDecoder()),
                            MessageToByteHandler(RESPCommandEncoder()),
                            RESPRequestHandler(logger: logger),
                        ])
                        return channel
                    }
                }
        } catch {
            throw RedisClientError.unavailable("cannot connect to \(configuration.host):\(configuration.port): \(error)")
        }
        let connection = RedisConnection(configuration: configuration, channel: channel, logger: logger)
        do {
            var handshake: [RESPCommand] = []
            if let password = configuration.password {
                handshake.append(
                    configuration.username.map { RESPCommand("AUTH", .string($0), .string(password)) }
                        ?? RESPCommand("AUTH", .string(password)))
            }
            if configuration.database != 0 {
                handshake.append(RESPCommand("SELECT", .integer(configuration.database)))
            }
            if let name = configuration.clientName {
                handshake.append(RESPCommand("CLIENT", "SETNAME", .string(name)))
            }
            if !handshake.isEmpty {
                let replies = try await connection.pipeline(handshake, timeout: configuration.connectTimeout)
                for reply in replies { _ = try reply.throwingError() }  // WRONGPASS, NOAUTH, ERR DB index…
            }
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }

    public func send(_ command: RESPCommand, timeout: Duration?) async throws -> RESPValue {
        let reply = channel.eventLoop.makePromise(of: RESPValue.self)
        let deadline = deadline(timeout)
        onLoop { self.enqueue(command, reply: reply, deadline: deadline) }
        return try await reply.futureResult.get().throwingError()
    }

    public func pipeline(_ commands: [RESPCommand], timeout: Duration?) async throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let deadline = deadline(timeout)
        let replies = commands.map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        onLoop {
            for (command, reply) in zip(commands, replies) { self.enqueue(command, reply: reply, deadline: deadline) }
        }
        var values: [RESPValue] = []
        values.reserveCapacity(replies.count)
        for reply in replies { values.append(try await reply.futureResult.get()) }
        return values
    }

    public func close() async throws {
        try await channel.close()
    }

    private func deadline(_ timeout: Duration?) -> NIODeadline {
        .now() + TimeAmount(timeout ?? configuration.commandTimeout)
    }

    /// Runs `write` and the flush on the connection's event loop in one go: from another thread,
    /// `Channel.write` and `Channel.flush` would each be a task of their own there.
    private func onLoop(_ write: @escaping @Sendable () -> Void) {
        let loop = channel.eventLoop
        let submit: @Sendable () -> Void = { [self] in
            write()
            channel.flush()
        }
        if loop.inEventLoop { submit() } else { loop.execute(submit) }
    }

    /// Writes without flushing; on the event loop. A write that fails before reaching the handler
    /// (the channel is already closed) fails the reply too, so no caller waits forever; completing
    /// a promise twice is harmless in NIO (the second completion is ignored).
    private func enqueue(_ command: RESPCommand, reply: EventLoopPromise<RESPValue>, deadline: NIODeadline) {
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            if let channelError = error as? ChannelError, channelError == .ioOnClosedChannel || channelError == .alreadyClosed {
                reply.fail(RedisClientError.connectionClosed(requestSent: false))
            } else {
                reply.fail(error)
            }
        }
        channel.write(RESPRequest(command: command, reply: reply, deadline: deadline), promise: written)
    }
}
