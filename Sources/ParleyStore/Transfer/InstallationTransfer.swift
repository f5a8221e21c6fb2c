import Foundation
import ParleyCore

/// `parley export` and `parley import`: a whole installation (every tenant's tables and the
/// control store's) as a directory of JSON lines, written from one backend and read into the
/// other, so an installation moves from SQLite to PostgreSQL or back with its ids, task numbers,
/// feedback and audit chains (sequences and hashes) as they were.
///
///     DIR/manifest.json                 format, schema versions, tenants, row counts, columns
///     DIR/control/<table>.jsonl         flags, model usage, the system audit log and its checkpoint
///     DIR/tenants/<id>/<table>.jsonl    users, tasks, conversations, messages, feedback, audit log
///
/// Each line is one row: a JSON array of its values in the manifest's column order. Run it with
/// the servers stopped (like `parley migrate`): rows written during an export may be missed.
public struct InstallationTransfer: Sendable {
    public static let format = "parley-export"
    public static let version = 1
    /// Rows read or inserted at a time.
    static let page = 2_000

    let storage: Storage

    public init(storage: Storage) {
        self.storage = storage
    }

    public struct Manifest: Codable, Sendable {
        public var format: String
        public var version: Int
        /// The schema versions the tables have (an import needs the same).
        public var tenantSchema: Int
        public var controlSchema: Int
        public var exportedAt: Date
        /// `sqlite` or `postgresql`.
        public var source: String
        public var tenants: [String]
        /// Rows per file, by path relative to the directory.
        public var rows: [String: Int]
        /// The last id each table's generator handed out, by file: deleted rows' ids are not
        /// handed out again after an import.
        public var generators: [String: Int]
        public var columns: [String: [String]]

        enum CodingKeys: String, CodingKey {
            case format, version, source, tenants, rows, generators, columns
            case tenantSchema = "tenant_schema"
            case controlSchema = "control_schema"
            case exportedAt = "exported_at"
        }
    }

    /// What an export wrote or an import read.
    public struct Summary: Sendable {
        public let tenants: Int
        public let rows: Int
        public let location: String
    }

    // MARK: Export

    public func export(to directory: URL) async throws -> Summary {
        let files = FileManager.default
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        if let existing = try? files.contentsOfDirectory(atPath: directory.path), !existing.isEmpty {
            throw TransferError("\(directory.path) is not empty: export into a new directory")
        }
        let tenants = try await storage.tenants.tenants()
        var manifest = Manifest(
            format: Self.format, version: Self.version, tenantSchema: Self.tenantSchema, controlSchema: Self.controlSchema,
            exportedAt: Date(), source: storage.backend, tenants: tenants.map(\.rawValue), rows: [:], generators: [:], columns: [:])
        for table in TransferTable.control + TransferTable.tenant { manifest.columns[table.name] = table.columns.map(\.name) }
        try await write(TransferTable.control, from: try await access(nil), to: "control", in: directory, manifest: &manifest)
        for tenant in tenants {
            try await write(
                TransferTable.tenant, from: try await access(tenant), to: "tenants/\(tenant.rawValue)", in: directory, manifest: &manifest)
        }
        try Self.encoder.encode(manifest).write(to: directory.appendingPathComponent("manifest.json"))
        return Summary(tenants: tenants.count, rows: manifest.rows.values.reduce(0, +), location: directory.path)
    }

    private func write(
        _ tables: [TransferTable], from access: any TransferAccess, to folder: String, in directory: URL, manifest: inout Manifest
    ) async throws {
        let files = FileManager.default
        try files.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
        let lines = JSONEncoder()
        for table in tables {
            let path = "\(folder)/\(table.name).jsonl"
            let url = directory.appendingPathComponent(path)
            guard files.createFile(atPath: url.path, contents: nil) else { throw TransferError("cannot create \(url.path)") }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            var offset = 0
            while true {
                let rows = try await access.rows(of: table, offset: offset, limit: Self.page)
                if rows.isEmpty { break }
                var chunk = Data()
                for row in rows {
                    chunk.append(try lines.encode(row))
                    chunk.append(0x0A)
                }
                try handle.write(contentsOf: chunk)
                offset += rows.count
            }
            manifest.rows[path] = offset
            if table.generated != nil { manifest.generators[path] = try await access.generatorPosition(of: table) }
        }
    }

    // MARK: Import

    public func `import`(from directory: URL) async throws -> Summary {
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: manifestURL) else { throw TransferError("\(manifestURL.path) is missing: not a parley export") }
        let manifest = try Self.decoder.decode(Manifest.self, from: data)
        guard manifest.format == Self.format, manifest.version == Self.version else {
            throw TransferError("\(directory.path) is not a parley export of format version \(Self.version)")
        }
        guard manifest.tenantSchema == Self.tenantSchema, manifest.controlSchema == Self.controlSchema else {
            throw TransferError(
                "the export has schema versions \(manifest.tenantSchema) (tenants) and \(manifest.controlSchema) (control); this build has "
                    + "\(Self.tenantSchema) and \(Self.controlSchema): import with the Parley version that exported it")
        }
        for table in TransferTable.control + TransferTable.tenant where manifest.columns[table.name] != table.columns.map(\.name) {
            throw TransferError("the export's columns of \(table.name) differ from this build's")
        }
        let tenants = try manifest.tenants.map { name in
            guard let id = TenantID(name) else { throw TransferError("the export names an invalid tenant id: \(name)") }
            return id
        }
        // Only into an empty installation: nothing is merged or overwritten.
        let existing = try await storage.tenants.tenants()
        guard existing.isEmpty else {
            throw TransferError("\(storage.location) already has tenants (\(existing.map(\.rawValue).joined(separator: ", "))): import into an empty store")
        }
        let control = try await access(nil)
        for table in TransferTable.control where try await !control.isEmpty(table) {
            throw TransferError("\(storage.location) already has \(table.name) rows: import into an empty store")
        }
        var total = 0
        total += try await read(TransferTable.control, into: control, from: "control", in: directory, manifest: manifest)
        for tenant in tenants {
            _ = try await storage.tenants.provision(tenant)
            total += try await read(
                TransferTable.tenant, into: try await access(tenant), from: "tenants/\(tenant.rawValue)", in: directory, manifest: manifest)
        }
        return Summary(tenants: tenants.count, rows: total, location: storage.location)
    }

    private func read(
        _ tables: [TransferTable], into access: any TransferAccess, from folder: String, in directory: URL, manifest: Manifest
    ) async throws -> Int {
        var conversationTimes: [Int: Int] = [:]
        var total = 0
        for table in tables {
            let path = "\(folder)/\(table.name).jsonl"
            guard let expected = manifest.rows[path] else { throw TransferError("the manifest lists no \(path)") }
            let data = try Data(contentsOf: directory.appendingPathComponent(path))
            let idColumn = table.columns.firstIndex { $0.name == "id" } ?? 0
            let updatedColumn = table.columns.firstIndex { $0.name == "updated_at" } ?? 0
            var batch: [[JSONValue]] = []
            var count = 0
            for line in data.split(separator: 0x0A) where !line.isEmpty {
                let row = try Self.decoder.decode([JSONValue].self, from: Data(line))
                guard row.count == table.columns.count else {
                    throw TransferError("\(path) line \(count + 1) has \(row.count) values, not \(table.columns.count)")
                }
                if table.name == "conversations", let id = row[idColumn].intValue, let updated = row[updatedColumn].intValue {
                    conversationTimes[id] = updated
                }
                batch.append(row)
                count += 1
                if batch.count == Self.page {
                    try await access.insert(batch, into: table)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try await access.insert(batch, into: table)
            guard count == expected else { throw TransferError("\(path) has \(count) rows; the manifest says \(expected)") }
            total += count
        }
        var positions: [String: Int] = [:]
        for table in tables { positions[table.name] = manifest.generators["\(folder)/\(table.name).jsonl"] }
        try await access.finish(tables, positions: positions, conversationTimes: conversationTimes)
        return total
    }

    // MARK: The stores' tables

    /// The tables of a tenant (`nil`: the control store), on whichever backend this is.
    func access(_ tenant: TenantID?) async throws -> any TransferAccess {
        switch (storage.tenants, storage.control) {
        case (let provider as SQLiteStoreProvider, let control as SQLiteControlStore):
            guard let tenant else { return SQLiteTransferAccess(database: control.database) }
            return SQLiteTransferAccess(database: try await provider.database(for: tenant, provisioning: .existingOnly))
        case (let provider as PostgresStoreProvider, _):
            guard let tenant else { return PostgresTransferAccess(database: provider.database, schema: .control) }
            return PostgresTransferAccess(
                database: provider.database, schema: try await provider.schema(for: tenant, provisioning: .existingOnly))
        default:
            throw TransferError("export and import need a SQLite or PostgreSQL store")
        }
    }

    static var tenantSchema: Int { SQLiteSchema.latestVersion }
    static var controlSchema: Int { SQLiteControlSchema.migrations.last?.version ?? 0 }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

extension Storage {
    /// `sqlite` or `postgresql`.
    var backend: String { tenants is PostgresStoreProvider ? "postgresql" : "sqlite" }
}
