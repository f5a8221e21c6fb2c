import Crypto
import Foundation
import ParleyCore
import Testing

@testable import ParleyStore

@Suite("Audit chain hashing")
struct AuditChainHashingTests {
    @Test func hexIsTheTwoDigitLowerCaseFormThatStoredChainsUse() {
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 16, 32, 100] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(AuditChain.hex(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        }
        #expect(AuditChain.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }
}

@Suite("Audit chain: the trace id")
struct AuditChainTraceTests {
    /// The fields as chains were hashed before events had trace ids.
    static func legacyHash(previous: String, _ event: AuditEvent) throws -> String {
        let fields: [String?] = [
            previous, String(Clock.millis(event.time)), event.tenant?.rawValue, event.actor,
            event.action, event.object, event.outcome.rawValue, event.ip, event.requestID, event.detail,
        ]
        return AuditChain.hex(SHA256.hash(data: try JSONEncoder().encode(fields)))
    }

    @Test func anEventWithoutATraceHashesAsBeforeAndATraceIsCovered() throws {
        let previous = String(repeating: "0", count: 64)
        var event = AuditEvent(
            time: Date(timeIntervalSince1970: 1_765_000_000.123), tenant: TenantID("acme"), actor: "alice", action: "task.create",
            object: "task:1", outcome: .success, ip: "127.0.0.1", requestID: "r1", detail: "via chat")
        // Chains stored before trace ids still verify.
        #expect(AuditChain.hash(previous: previous, event: event) == (try Self.legacyHash(previous: previous, event)))
        event.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let traced = AuditChain.hash(previous: previous, event: event)
        #expect(traced != (try Self.legacyHash(previous: previous, event)))
        // An edited trace id breaks the chain like any other field.
        event.traceID = "00000000000000000000000000000001"
        #expect(AuditChain.hash(previous: previous, event: event) != traced)
    }
}
