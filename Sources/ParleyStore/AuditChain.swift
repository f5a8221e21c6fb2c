import Crypto
import Foundation
import ParleyCore

/// The hash chain over audit events: each record's hash covers the previous record's hash and
/// every field of its event, so an edited, inserted or deleted row breaks the chain from there on.
public enum AuditChain {
    public static func hash(previous: String, event: AuditEvent) -> String {
        // A JSON array of strings is an unambiguous encoding of the fields (no separator tricks).
        var fields: [String?] = [
            previous, String(Clock.millis(event.time)), event.tenant?.rawValue, event.actor, event.action, event.object,
            event.outcome.rawValue, event.ip, event.requestID, event.detail,
        ]
        // Covered when present; events without one hash as they always have, so stored chains verify.
        if let traceID = event.traceID { fields.append(traceID) }
        let canonical = (try? encoder.encode(fields)) ?? Data()
        return hex(SHA256.hash(data: canonical))
    }

    /// The default encoder, as the chain has always been hashed with (changing its settings would
    /// break every stored chain); made once.
    private static let encoder = JSONEncoder()

    /// Lower-case hex, two digits a byte.
    static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Walks a log from its first record, or from `checkpoint` when its beginning was purged, a
    /// page at a time (`page(after)` returns the records with a sequence above `after`, in
    /// order), and reports the first that does not check out.
    static func verify(
        from checkpoint: AuditCheckpoint? = nil, page: (_ after: Int) async throws -> [AuditRecord]
    ) async throws -> AuditChainReport {
        var previous = checkpoint?.hash ?? AuditRecord.genesisHash
        var checked = 0
        var after = checkpoint?.sequence ?? 0
        while true {
            let records = try await page(after)
            if records.isEmpty { return AuditChainReport(checked: checked, checkpoint: checkpoint) }
            for record in records {
                if record.previousHash != previous {
                    let what = checked == 0 && checkpoint != nil ? "the checkpoint of the purge" : "the record before it"
                    return AuditChainReport(
                        checked: checked, firstBrokenSequence: record.sequence,
                        problem: "does not link to \(what) (a record was removed or inserted)", checkpoint: checkpoint)
                }
                if hash(previous: previous, event: record.event) != record.hash {
                    return AuditChainReport(
                        checked: checked, firstBrokenSequence: record.sequence, problem: "its content does not match its hash",
                        checkpoint: checkpoint)
                }
                previous = record.hash
                checked += 1
                after = record.sequence
            }
        }
    }
}
