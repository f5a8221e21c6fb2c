import ArgumentParser
import AsyncHTTPClient
import Configuration
import Foundation
import Logging
import ParleyAuth
import ParleyAgent
import ParleyAudit
import ParleyCore
import ParleyMCP
import ParleyModels
import ParleyPrivacy
import ParleyRedis
import ParleyServer
import ParleyStore

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A multi-tenant AI chat service with a to-do agent built in.",
        version: ParleyBuild.version,
        subcommands: [
            Serve.self, MCPCommand.self, Worker.self, Token.self, Migrate.self, Purge.self, Audit.self, ExportCommand.self,
            ImportCommand.self, PII.self, Probe.self,
        ],
        defaultSubcommand: Serve.self
    )
}

/// Options every subcommand shares; they override environment, `.env` and config file.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "JSON configuration file (also PARLEY_CONFIG).")
    var config: String?

    @Option(name: .long, help: "Directory for the SQLite files and the development key (data.dir).")
    var dataDir: String?

    func load(_ extra: [String: ConfigContent] = [:]) async throws -> ParleyConfiguration {
        var overrides = extra
        if let dataDir { overrides["data.dir"] = .string(dataDir) }
        let reader = try await ParleyConfiguration.reader(overrides: overrides, configFile: config)
        return try ParleyConfiguration(reader: reader)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server (the default).")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Address to listen on (http.host).")
    var host: String?

    @Option(name: .long, help: "Port to listen on (http.port).")
    var port: Int?

    @Option(name: .long, help: "Accept tokens of the built-in development issuer (auth.dev); default: only on loopback.")
    var devAuth: Bool?

    func run() async throws {
        var overrides: [String: ConfigContent] = [:]
        if let host { overrides["http.host"] = .string(host) }
        if let port { overrides["http.port"] = .int(port) }
        if let devAuth { overrides["auth.dev"] = .bool(devAuth) }
        let configuration = try await common.load(overrides)
        let onEventLoops = configuration.eventLoopExecutor && EventLoopExecutor.install()
        let (logger, tracing) = try bootstrapObservability(configuration, label: "parley")
        let services = try await ParleyServices.make(configuration: configuration, logger: logger)
        let app = try await buildApplication(services: services, logger: logger, tracing: tracing)
        logger.info(
            "parley listening",
            metadata: [
                "address": "http://\(configuration.host):\(configuration.port)",
                "data_dir": "\(configuration.dataDirectoryURL.path)",
                "dev_auth": "\(configuration.devAuthEnabled)",
                "event_loop_executor": "\(onEventLoops)",
                "migrate": "\(configuration.migration.rawValue)",
            ])
        try await runUntilShutdown(app, drain: services.drain, period: configuration.drain(host: configuration.host), logger: logger)
    }
}

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store audit events from the Redis queue (needs redis.url); run as many as you like.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try await common.load()
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        var logger = Logger(label: "parley.worker")
        logger.logLevel = level
        guard let redis = configuration.redis else {
            throw ConfigurationError(key: "redis.url", reason: "parley worker reads the audit queue in Redis: set redis.url")
        }
        try await runAuditWorker(
            redis: redis.connection, consumer: redis.consumer, postgres: configuration.postgres, migration: configuration.migration,
            dataDirectory: configuration.dataDirectoryURL, metrics: ParleyMetrics(), logger: logger)
    }
}

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Run Parley's MCP server: Streamable HTTP on its own port (mcp.port), or stdio for a desktop client.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Address to listen on (mcp.host).")
    var host: String?

    @Option(name: .long, help: "Port to listen on (mcp.port).")
    var port: Int?

    @Flag(name: .long, help: "Speak MCP on stdin/stdout for one local user instead (no token: whoever runs the process is trusted).")
    var stdio = false

    @Option(name: .long, help: "With --stdio: the user whose tasks the tools act on.")
    var user: String?

    @Option(name: .long, help: "With --stdio: the user's tenant.")
    var tenant: String?

    func run() async throws {
        var overrides: [String: ConfigContent] = [:]
        if let host { overrides["mcp.host"] = .string(host) }
        if let port { overrides["mcp.port"] = .int(port) }
        let configuration = try await common.load(overrides)
        if stdio { return try await runStdio(configuration) }
        let (logger, tracing) = try bootstrapObservability(configuration, label: "parley")
        let services = try await ParleyServices.make(configuration: configuration, logger: logger)
        let app = try await buildApplication(services: services, logger: logger, surface: .mcp, tracing: tracing)
        logger.info(
            "parley mcp listening",
            metadata: [
                "address": "http://\(configuration.mcp.host):\(configuration.mcp.port)/mcp",
                "sessions": "\(configuration.mcp.stateful ? "stateful" : "stateless")",
            ])
        try await runUntilShutdown(app, drain: services.drain, period: configuration.drain(host: configuration.mcp.host), logger: logger)
    }

    /// stdout carries the protocol: logs go to stderr.
    func runStdio(_ configuration: ParleyConfiguration) async throws {
        guard let user = user.flatMap(UserID.init), let tenant = tenant.flatMap(TenantID.init) else {
            throw ValidationError("--stdio needs --user and --tenant (valid ids)")
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parley.mcp")
        let storage = try await Storage.open(
            postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, migration: configuration.migration,
            logger: logger)
        let store = try await storage.tenants.store(for: tenant, provisioning: .createIfMissing)
        let executor = TaskToolExecutor(tasks: TaskService(repository: store.tasks, user: user))
        try await MCPToolServer(logger: logger).runStdio(executor: executor)
        try await storage.close()
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a token of the development issuer (for curl and local tools).")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "The user (token subject).")
    var user: String

    @Option(name: .long, help: "A tenant the token grants; repeat for several.")
    var tenant: [String]

    @Flag(name: .long, help: "Grant the admin role.")
    var admin = false

    @Option(name: .long, help: "Lifetime in seconds.")
    var ttl: Int = 12 * 3600

    func validate() throws {
        guard UserID(user) != nil else { throw ValidationError("--user must be 1–255 printable characters without spaces") }
        guard !tenant.isEmpty else { throw ValidationError("give at least one --tenant") }
        for name in tenant where TenantID(name) == nil {
            throw ValidationError("--tenant \(name) must match ^[a-z][a-z0-9_]{0,62}$")
        }
        guard ttl > 0, ttl <= 30 * 24 * 3600 else { throw ValidationError("--ttl must be 1 to 2592000 seconds") }
    }

    func run() async throws {
        let configuration = try await common.load()
        let issuer = try DevelopmentIssuer.loadOrCreate(dataDirectory: configuration.dataDirectoryURL)
        let token = try await issuer.token(
            user: UserID(user)!, tenants: tenant.compactMap(TenantID.init), admin: admin, lifetime: TimeInterval(ttl))
        print(token)
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring every tenant database to the latest schema, or roll back the latest migration.")

    @OptionGroup var common: CommonOptions

    @Flag(name: .long, help: "Undo the latest migration of every tenant (stop the server first).")
    var rollback = false

    @Option(name: .long, help: "Wait up to this many seconds for the database to accept connections (a migration job starting with it).")
    var waitSeconds: Int = 0

    func validate() throws {
        guard (0...3600).contains(waitSeconds) else { throw ValidationError("--wait-seconds must be 0–3600") }
    }

    func run() async throws {
        let configuration = try await common.load()
        let logger = Logger(label: "parley.migrate")
        // Opening the storage migrates the control database (or PostgreSQL's shared schema);
        // `parley migrate` always migrates, whatever database.migrate says.
        let storage = try await openWaiting(configuration, logger: logger)
        let versions: [TenantID: Int]
        do {
            versions = rollback ? try await storage.tenants.rollbackAll() : try await storage.tenants.migrateAll()
        } catch {
            try? await storage.close()
            throw error
        }
        try await storage.close()
        if versions.isEmpty { print("no tenants yet in \(storage.location)") }
        for (tenant, version) in versions.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            print("\(tenant): schema version \(version)")
        }
    }
}

extension Migrate {
    /// Opens the storage, retrying once a second until `--wait-seconds` have passed.
    func openWaiting(_ configuration: ParleyConfiguration, logger: Logger) async throws -> Storage {
        let deadline = ContinuousClock.now + .seconds(waitSeconds)
        while true {
            do {
                return try await Storage.open(
                    postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, migration: .auto, logger: logger)
            } catch {
                guard ContinuousClock.now < deadline else { throw error }
                FileHandle.standardError.write(Data("waiting for the database: \(error)\n".utf8))
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// For container health checks, where there is no curl: GET a URL, exit 0 on a 2xx answer.
struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GET a URL and exit 0 when it answers 2xx (a container HEALTHCHECK without curl).")

    @Argument(help: "The URL, e.g. http://127.0.0.1:8080/api/v1/healthz.")
    var url: String

    @Option(name: .long, help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    func run() async throws {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(Int64(timeout)))
        guard (200..<300).contains(Int(response.status.code)) else {
            FileHandle.standardError.write(Data("\(url): \(response.status)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove messages older than each tenant's retention (retention.days, or the tenant's flag) and audit events older than audit.retentionDays now; print what went.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "Purge only this tenant.")
    var tenant: String?

    @Flag(name: .long, help: "Count what would be removed; change nothing.")
    var dryRun = false

    func run() async throws {
        let configuration = try await common.load()
        let logger = Logger(label: "parley.purge")
        let only = try tenant.map { name in
            guard let id = TenantID(name) else { throw ValidationError("--tenant must match ^[a-z][a-z0-9_]{0,62}$") }
            return id
        }
        let storage = try await Storage.open(
            postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, migration: configuration.migration,
            logger: logger)
        let provider = storage.tenants
        if let only, !(try await provider.tenants()).contains(only) {
            try await storage.close()
            throw ValidationError("no tenant \(only) in \(storage.location)")
        }
        // With Redis, the conversations it purges are dropped from the context cache as in the server.
        let redis = configuration.redis.map { RedisConnectionPool(configuration: $0.connection, logger: logger) }
        let cache = redis.flatMap { configuration.redis?.contextCache(on: $0, logger: logger) }
        let purger = RetentionPurger(
            tenants: { try await provider.tenants() },
            store: { tenant in
                let store = try await provider.store(for: tenant, provisioning: .existingOnly)
                return cache?.wrap(store) ?? store
            },
            flags: FlagService(store: storage.control.flags), defaultDays: configuration.retention.days,
            auditDays: configuration.retention.auditDays, systemAudit: storage.control.systemAudit,
            // No audit worker here: the event goes straight into its log.
            record: { [control = storage.control] event in
                guard let tenant = event.tenant else {
                    _ = try? await control.systemAudit.append([event])
                    return
                }
                _ = try? await provider.store(for: tenant, provisioning: .existingOnly).audit.append([event])
            })
        if only == nil, let system = try await purger.purgeSystemAudit(dryRun: dryRun) {
            print("system log: " + RetentionPurger.describe(system, dryRun: dryRun))
        }
        for outcome in try await purger.purgeAll(only: only, dryRun: dryRun) { print(outcome.summary) }
        await redis?.shutdown()
        try await storage.close()
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the whole installation (every tenant, flags, usage, audit logs) to a directory, for parley import on either backend.",
        discussion: "Stop the servers first, as for parley migrate: what is written meanwhile may be missed.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "A new (or empty) directory to write to.")
    var out: String

    func run() async throws {
        let configuration = try await common.load()
        let logger = Logger(label: "parley.export")
        let storage = try await Storage.open(
            postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, migration: configuration.migration,
            logger: logger)
        let summary: InstallationTransfer.Summary
        do {
            summary = try await InstallationTransfer(storage: storage).export(to: URL(fileURLWithPath: out))
        } catch {
            try? await storage.close()
            throw error
        }
        try await storage.close()
        print("exported \(summary.tenants) tenants, \(summary.rows) rows from \(storage.location) to \(summary.location)")
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Read a directory written by parley export into this (empty) installation: SQLite, or PostgreSQL with database.url.",
        discussion: "Ids, task numbers, feedback and the audit chains come over as they were; parley audit verify passes after it.")

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: "The directory parley export wrote.")
    var from: String

    func run() async throws {
        let configuration = try await common.load()
        let logger = Logger(label: "parley.import")
        let storage = try await Storage.open(
            postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, migration: .auto, logger: logger)
        let summary: InstallationTransfer.Summary
        do {
            summary = try await InstallationTransfer(storage: storage).import(from: URL(fileURLWithPath: from))
        } catch {
            try? await storage.close()
            throw error
        }
        try await storage.close()
        print("imported \(summary.tenants) tenants, \(summary.rows) rows into \(summary.location)")
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the audit logs.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the hash chain of every tenant's audit log and the system log; exit 1 if one is broken.")

        @OptionGroup var common: CommonOptions

        @Option(name: .long, help: "Check only this tenant's log.")
        var tenant: String?

        func run() async throws {
            let configuration = try await common.load()
            let logger = Logger(label: "parley.audit")
            let storage = try await Storage.open(
                postgres: configuration.postgres, dataDirectory: configuration.dataDirectoryURL, logger: logger)
            let (provider, control) = (storage.tenants, storage.control)
            var logs: [(String, any AuditLogRepository)] = []
            if let tenant {
                guard let id = TenantID(tenant) else { throw ValidationError("--tenant must match ^[a-z][a-z0-9_]{0,62}$") }
                logs.append((tenant, try await provider.store(for: id, provisioning: .existingOnly).audit))
            } else {
                logs.append(("system", control.systemAudit))
                for id in try await provider.tenants() {
                    logs.append((id.rawValue, try await provider.store(for: id, provisioning: .existingOnly).audit))
                }
            }
            var broken = 0
            for (name, log) in logs {
                let report = try await log.verifyChain()
                if let sequence = report.firstBrokenSequence {
                    broken += 1
                    print("\(name): BROKEN at event \(sequence): \(report.problem ?? "mismatch") (\(report.checked) events before it are intact)")
                } else {
                    let from = report.checkpoint.map { ", verified from the checkpoint of \($0.purged) purged events (event \($0.sequence))" } ?? ""
                    print("\(name): intact, \(report.checked) events\(from)")
                }
            }
            try await storage.close()
            if broken > 0 { throw ExitCode(1) }
        }
    }
}

struct PII: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pii", abstract: "The PII detector that guards external models.", subcommands: [Detect.self])

    struct Detect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read JSON lines {\"text\": …} on stdin; write {\"entities\": [{type, value}], \"pseudonymized\": …} per line (eval/pii_eval.py).")

        struct Input: Decodable { let text: String }
        struct Entity: Encodable { let type: String; let value: String }
        struct Output: Encodable { let entities: [Entity]; let pseudonymized: String }

        func run() async throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            while let line = readLine(strippingNewline: true) {
                guard !line.isEmpty else { continue }
                let text = (try? JSONDecoder().decode(Input.self, from: Data(line.utf8)))?.text ?? ""
                var map = PseudonymMap()
                let output = Output(
                    entities: PIIDetector.detect(in: text).map { Entity(type: $0.kind.rawValue, value: $0.value) },
                    pseudonymized: map.pseudonymize(text))
                FileHandle.standardOutput.write(try encoder.encode(output) + Data("\n".utf8))
            }
        }
    }
}
