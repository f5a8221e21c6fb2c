import Logging
import ServiceLifecycle
import Synchronization

/// Whether this process is draining: SIGTERM came, readiness answers 503 so that load balancers
/// stop sending, and requests are still served until `http.drainSeconds` have passed.
public final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    func begin() { draining.store(true, ordering: .relaxed) }
}

/// The first service to hear of shutdown: it turns readiness to 503 and holds the rest of the
/// shutdown back for the drain period. Only then does the HTTP server stop accepting, finish the
/// requests and streams in flight, and the audit worker store what is queued.
struct DrainService: Service {
    let state: DrainState
    let period: Duration
    let logger: Logger

    func run() async throws {
        // Cancelled rather than shut down gracefully: nothing to drain.
        guard (try? await gracefulShutdown()) != nil else { return }
        state.begin()
        logger.notice("shutting down: readiness answers 503; still serving while load balancers notice", metadata: ["drain": "\(period)"])
        try? await Task.sleep(for: period)
        logger.notice("drain over: finishing the requests in flight")
    }
}

/// Runs `app` until SIGTERM or SIGINT, then drains (see `DrainService`) and shuts down in order:
/// the server (in-flight requests and streams finish), then the audit worker and the stores.
public func runUntilShutdown(_ app: some Service, drain state: DrainState, period: Duration, logger: Logger) async throws {
    let services: [any Service] = [app, DrainService(state: state, period: period, logger: logger)]
    // Services shut down in reverse order, each once the one after it has returned.
    let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
}
