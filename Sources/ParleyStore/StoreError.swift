import Foundation

public enum StoreError: Error, CustomStringConvertible {
    case corrupt(column: String)
    case schemaTooNew(database: String, version: Int)

    public var description: String {
        switch self {
        case .corrupt(let column): "stored row has an unreadable column \(column)"
        case .schemaTooNew(let database, let version):
            "\(database) has schema version \(version), newer than this build knows; upgrade Parley"
        }
    }
}

/// Times as both backends store them: milliseconds since 1970 in an integer column.
enum Clock {
    static func nowMillis() -> Int { Int((Date().timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ millis: Int) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
    static func millis(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded()) }
}
