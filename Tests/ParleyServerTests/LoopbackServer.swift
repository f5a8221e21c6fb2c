import Hummingbird
import Logging
import ServiceLifecycle

/// A Hummingbird server on a free loopback port, run in the background for a test's peers
/// (identity provider, model server); `stop()` shuts it down gracefully.
struct LoopbackServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    struct DidNotStart: Error {}

    static func start(_ router: Router<BasicRequestContext>, name: String) async throws -> LoopbackServer {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: name)
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: name),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw DidNotStart() }
        return LoopbackServer(port: port, group: group, running: running)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }
}
