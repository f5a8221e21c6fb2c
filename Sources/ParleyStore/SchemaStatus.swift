import ParleyCore

/// Whether a process brings the schemas it opens up to date (`database.migrate`).
///
/// `auto`: every process migrates what it opens (one PostgreSQL migration at a time, under an
/// advisory lock). `off`: only `parley migrate` changes schemas; serving processes refuse a tenant
/// whose schema is older than they need and report it in readiness. Schemas newer than a process
/// knows are used as they are: by the expand/contract rule a release only adds to the schema, so
/// the previous release runs on the next one's schema during a blue-green switch.
public enum MigrationPolicy: String, Sendable, CaseIterable {
    case auto
    case off
}

/// A schema older than this build needs.
public struct OutdatedSchema: Sendable, Equatable, CustomStringConvertible {
    public let database: String
    public let version: Int
    public let needed: Int

    public var description: String {
        "\(database) has schema version \(version), this Parley needs \(needed): run `parley migrate`"
    }
}

/// Reports the schemas older than this build (readiness asks, with `database.migrate = off`).
public protocol SchemaStatus: Sendable {
    func outdatedSchemas() async throws -> [OutdatedSchema]
}
