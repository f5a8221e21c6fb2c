import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How Parley runs a local llama.cpp `llama-server` for one provider.
public struct LlamaServerSettings: Sendable, Hashable {
    /// The `llama-server` binary: a path, or a name looked up on `PATH`.
    public var binary: String
    /// The GGUF model file.
    public var modelPath: String
    /// 0: any free loopback port, chosen at start.
    public var port: Int
    /// CPU threads for generation; `nil`: llama.cpp's default.
    public var threads: Int?
    public var contextSize: Int
    /// Where the server's own output goes; `nil`: discarded.
    public var logFile: String?
    /// How long a start may take before the server counts as failed (loading a big model is slow).
    public var startupTimeout: Duration

    public init(
        binary: String = "llama-server", modelPath: String, port: Int = 0, threads: Int? = nil, contextSize: Int = 4096,
        logFile: String? = nil, startupTimeout: Duration = .seconds(180)
    ) {
        self.binary = binary
        self.modelPath = modelPath
        self.port = port
        self.threads = threads
        self.contextSize = contextSize
        self.logFile = logFile
        self.startupTimeout = startupTimeout
    }
}

/// Starts `llama-server` on loopback, waits until it is healthy, restarts it when it exits
/// (with backoff), and stops it when its `run()` task is cancelled. Requests that arrive while
/// it is down fail fast (connection refused), so the route falls through to the next provider.
public final class LlamaServerSupervisor: Sendable {
    public let name: String
    public let settings: LlamaServerSettings
    public let port: Int
    let logger: Logger

    private struct State {
        var pid: Int32?
        var healthy = false
        var starts = 0
    }

    private let state = Mutex(State())

    public init(name: String, settings: LlamaServerSettings, logger: Logger) throws {
        self.name = name
        self.settings = settings
        self.port = settings.port == 0 ? try Self.freeLoopbackPort() : settings.port
        self.logger = logger
    }

    /// The OpenAI-compatible API root of the supervised server.
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    /// The process id of the running server, if one runs.
    public var pid: Int32? { state.withLock { $0.pid } }
    public var isHealthy: Bool { state.withLock { $0.healthy } }
    /// How many times the server was started (1 + restarts).
    public var starts: Int { state.withLock { $0.starts } }

    /// Runs the server until the calling task is cancelled; `onHealthy` runs after every
    /// (re)start once the model is loaded.
    public func run(onHealthy: @escaping @Sendable () async -> Void = {}) async {
        var backoff: Duration = .milliseconds(250)
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                let status = try await runOnce(onHealthy: onHealthy)
                if Task.isCancelled { break }
                logger.warning("llama-server exited; restarting", metadata: ["provider": "\(name)", "status": "\(status)"])
            } catch {
                logger.error("llama-server could not start", metadata: ["provider": "\(name)", "error": "\(error)"])
            }
            // A server that ran for a while gets a quick restart; one that keeps dying, a slower one.
            if ContinuousClock.now - started > .seconds(60) { backoff = .milliseconds(250) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    /// One life of the server: launch, health wait, then wait for it to exit (or stop it when cancelled).
    private func runOnce(onHealthy: @escaping @Sendable () async -> Void) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.resolve(settings.binary))
        process.arguments = arguments
        if let logFile = settings.logFile, FileManager.default.createFile(atPath: logFile, contents: nil),
            let handle = FileHandle(forWritingAtPath: logFile)
        {
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        let (exits, exited) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { finished in
            exited.yield(finished.terminationStatus)
            exited.finish()
        }
        try process.run()
        let pid = process.processIdentifier
        state.withLock {
            $0.pid = pid
            $0.healthy = false
            $0.starts += 1
        }
        logger.notice("llama-server started", metadata: ["provider": "\(name)", "pid": "\(pid)", "port": "\(port)"])

        let health = Task { [self] in
            if await waitUntilHealthy() {
                state.withLock { $0.healthy = true }
                logger.notice("llama-server is ready", metadata: ["provider": "\(name)"])
                await onHealthy()
            } else if !Task.isCancelled {
                logger.error("llama-server did not become healthy in time; stopping it", metadata: ["provider": "\(name)"])
                Self.stop(pid)
            }
        }
        let status = await withTaskCancellationHandler {
            var status: Int32 = -1
            for await code in exits { status = code }
            return status
        } onCancel: {
            Self.stop(pid)
        }
        health.cancel()
        state.withLock {
            $0.pid = nil
            $0.healthy = false
        }
        withExtendedLifetime(process) {}
        return status
    }

    var arguments: [String] {
        var arguments = [
            "--model", settings.modelPath, "--host", "127.0.0.1", "--port", String(port), "--ctx-size", String(settings.contextSize),
            // Named so an operator (or a test script) can tell Parley's servers apart.
            "--alias", "parley-\(name)",
        ]
        if let threads = settings.threads { arguments += ["--threads", String(threads)] }
        return arguments
    }

    /// Polls `/health` (200 once the model is loaded) until the startup timeout.
    private func waitUntilHealthy() async -> Bool {
        let deadline = ContinuousClock.now + settings.startupTimeout
        let url = "http://127.0.0.1:\(port)/health"
        while ContinuousClock.now < deadline, !Task.isCancelled {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)), response.status == .ok {
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// SIGKILL: Foundation's `Process` hands the child the parent's signal mask, in which NIO's
    /// threads block SIGTERM, so a polite stop would stay pending forever. llama-server keeps no
    /// state worth a graceful stop.
    static func stop(_ pid: Int32) {
        kill(pid, SIGKILL)
    }

    struct BinaryNotFound: Error, CustomStringConvertible {
        let binary: String
        var description: String { "llama-server binary \(binary) not found (set model.provider.<name>.serverBinary, or run scripts/install-llama.sh)" }
    }

    static func resolve(_ binary: String) throws -> String {
        if binary.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: binary) else { throw BinaryNotFound(binary: binary) }
            return binary
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(binary)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw BinaryNotFound(binary: binary)
    }

    struct NoFreePort: Error {}

    /// A port the kernel just handed out on 127.0.0.1 (released again for the server to bind).
    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw NoFreePort() }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw NoFreePort() }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
