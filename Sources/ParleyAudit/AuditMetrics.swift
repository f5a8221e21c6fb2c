/// What the audit pipeline reports; ParleyServer's Prometheus metrics implement it, so the
/// pipeline needs no metrics backend of its own.
public protocol AuditMetrics: Sendable {
    /// Events stored in an audit log.
    func recordAuditWritten(_ count: Int)
    /// Events that could not be stored and went to the dead-letter file.
    func recordAuditDeadLetters(_ count: Int)
    /// Events waiting in this process's queue or outbox.
    func auditQueueDepth(_ depth: Int)
}
