import Configuration
import Foundation
import Logging
import ParleyServer
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsAreTheEmbeddedLaptopSetup() throws {
        let configuration = ParleyConfiguration()
        #expect(configuration.host == "127.0.0.1" && configuration.port == 8080)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.devAuthEnabled)
    }

    @Test func devAuthIsOffByDefaultOffLoopback() {
        var configuration = ParleyConfiguration()
        configuration.host = "0.0.0.0"
        #expect(!configuration.devAuthEnabled)
        configuration.devAuth = true
        #expect(configuration.devAuthEnabled)
    }

    @Test func commandLineBeatsConfigFileBeatsDefaults() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("parley-config-\(UUID().uuidString).json")
        try Data(#"{"http": {"port": 9001, "host": "0.0.0.0"}, "tenants": {"autoProvision": false}, "log": {"level": "debug"}}"#.utf8)
            .write(to: file)
        let reader = try await ParleyConfiguration.reader(overrides: ["http.port": .int(9002)], configFile: file.path)
        let configuration = try ParleyConfiguration(reader: reader)
        #expect(configuration.port == 9002)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.autoProvisionTenants == false)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.dataDirectory == "./data")
    }

    @Test func invalidValuesAreRefusedWithTheKey() async throws {
        let reader = try await ParleyConfiguration.reader(overrides: ["log.level": .string("loud")])
        #expect(throws: ConfigurationError.self) { try ParleyConfiguration(reader: reader) }
        let port = try await ParleyConfiguration.reader(overrides: ["http.port": .int(70000)])
        #expect(throws: ConfigurationError.self) { try ParleyConfiguration(reader: port) }
    }
}
