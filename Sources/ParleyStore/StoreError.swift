import Foundation
import ParleyCore

public enum StoreError: Error, CustomStringConvertible {
    case corrupt(column: String)

    public var description: String {
        switch self {
        case .corrupt(let column): "stored row has an unreadable column \(column)"
        }
    }

    /// A schema this process may not bring up to date (`database.migrate = off`): the request is
    /// refused with 503 until `parley migrate` has run.
    static func outdated(_ schema: OutdatedSchema) -> ParleyError { .unavailable(schema.description) }
}

/// Times as both backends store them: milliseconds since 1970 in an integer column.
enum Clock {
    static func nowMillis() -> Int { Int((Date().timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
    static func millis(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded()) }
}
