import Configuration
import Foundation
import Logging
import SystemPackage

/// Every setting Parley reads, with its default. Keys are listed in the README; each can come
/// from the command line, the environment (`PARLEY_` + the key in upper snake case, e.g.
/// `PARLEY_HTTP_PORT`), a `.env` file, or a JSON config file, in that order of precedence.
public struct ParleyConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var dataDirectory: String = "./data"
    /// `nil` means automatic: on exactly when listening on loopback.
    public var devAuth: Bool? = nil
    /// Create a tenant's storage on its first request.
    public var autoProvisionTenants: Bool = true
    public var logLevel: Logger.Level = .info
    /// Messages of the conversation the agent sees.
    public var contextMessages: Int = 20

    public init() {}

    /// Dev auth is on when configured so, or by default when nobody off this machine can reach us.
    public var devAuthEnabled: Bool { devAuth ?? Self.isLoopback(host) }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var dataDirectoryURL: URL {
        URL(fileURLWithPath: dataDirectory, isDirectory: true).standardizedFileURL
    }

    public init(reader: ConfigReader) throws {
        let defaults = ParleyConfiguration()
        host = reader.string(forKey: "http.host", default: defaults.host)
        port = reader.int(forKey: "http.port", default: defaults.port)
        dataDirectory = reader.string(forKey: "data.dir", default: defaults.dataDirectory)
        devAuth = reader.bool(forKey: "auth.dev")
        autoProvisionTenants = reader.bool(forKey: "tenants.autoProvision", default: defaults.autoProvisionTenants)
        contextMessages = reader.int(forKey: "chat.contextMessages", default: defaults.contextMessages)
        let level = reader.string(forKey: "log.level", default: defaults.logLevel.rawValue)
        guard let parsedLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw ConfigurationError(key: "log.level", reason: "must be one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsedLevel
        guard (0...65535).contains(port) else { throw ConfigurationError(key: "http.port", reason: "must be 0–65535") }
        guard (0...500).contains(contextMessages) else {
            throw ConfigurationError(key: "chat.contextMessages", reason: "must be 0–500")
        }
    }

    /// The layered reader: `overrides` (the command line) > environment > `.env` > config file.
    public static func reader(overrides: [String: ConfigContent] = [:], configFile: String? = nil) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(
                name: "command line",
                values: Dictionary(uniqueKeysWithValues: overrides.map { (AbsoluteConfigKey(ConfigKey($0.key)), ConfigValue($0.value, isSecret: false)) })),
            EnvironmentVariablesProvider().prefixKeys(with: "parley"),
            try await EnvironmentVariablesProvider(environmentFilePath: ".env", allowMissing: true).prefixKeys(with: "parley"),
        ]
        let file = configFile ?? ProcessInfo.processInfo.environment["PARLEY_CONFIG"]
        if let file, !file.isEmpty {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
        }
        return ConfigReader(providers: providers)
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let key: String
    public let reason: String

    public var description: String { "configuration \(key): \(reason)" }
}
