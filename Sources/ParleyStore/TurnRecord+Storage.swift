import Foundation
import ParleyCore

extension TurnRecord {
    /// The record as stored (JSON text).
    private static let encoder = JSONEncoder()

    static func json(_ record: TurnRecord?) throws -> String? {
        try record.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
    }

    /// Stored records by message id; one that no longer decodes is left out rather than failing the read.
    static func byMessage(_ rows: [(Int, String)]) -> [Int: TurnRecord] {
        var records: [Int: TurnRecord] = [:]
        let decoder = JSONDecoder()
        for (id, json) in rows {
            if let record = try? decoder.decode(TurnRecord.self, from: Data(json.utf8)) { records[id] = record }
        }
        return records
    }
}
