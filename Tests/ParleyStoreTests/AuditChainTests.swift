import Foundation
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
