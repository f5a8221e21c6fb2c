import Foundation

/// Shared by every harness (scripts/fuzz-parsers.sh builds it into each target).
///
/// A failed oracle: its message on stderr (optimized builds drop `precondition`'s), then a trap
/// that libFuzzer reports and keeps the input of.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("oracle failed: \(message)\n".utf8))
    fatalError()
}
