// libFuzzer target: the Server-Sent Events parser that reads model providers' streamed answers
// and MCP servers' replies, on arbitrary bytes. Built with Sources/ParleyCore/ServerSentEvents.swift
// into one module by scripts/fuzz-parsers.sh (swiftc -sanitize=fuzzer,address).
//
// Oracles beyond "no crash":
// - the same bytes give the same events however the network splits them (all at once, one byte
//   at a time, or at cut points the input chooses), and the same refusal of an oversized event;
// - an event's data never holds a CR (lines end there) and never exceeds the limit, and what the
//   parser holds between reads never exceeds the limit either.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    guard count > 0 else { return 0 }
    // The first byte picks the limit and the cut points; the rest is the stream.
    let control = data[0]
    let stream = Array(UnsafeBufferPointer(start: data + 1, count: count - 1))
    let limit = control & 1 == 0 ? 1 << 20 : 16 + Int(control >> 1)

    let whole = read(stream, limit: limit, pieces: [stream[...]])
    let oneByOne = read(stream, limit: limit, pieces: stream.indices.map { stream[$0...$0] })
    var pieces: [ArraySlice<UInt8>] = []
    var start = 0
    var step = Int(control % 7) + 1
    while start < stream.count {
        let end = min(stream.count, start + step)
        pieces.append(stream[start..<end])
        start = end
        step = step * 5 % 13 + 1
    }
    let split = read(stream, limit: limit, pieces: pieces)
    check(whole == oneByOne, "events depend on how the bytes arrive (one by one)")
    check(whole == split, "events depend on how the bytes arrive (pieces)")
    if case .events(let events) = whole {
        for event in events {
            check(!event.contains(13), "an event holds a CR")
            check(event.count <= limit, "an event of \(event.count) bytes passed a limit of \(limit)")
        }
    }
    return 0
}

enum Reading: Equatable {
    case events([Data])
    case tooLarge
}

func read(_ stream: [UInt8], limit: Int, pieces: [ArraySlice<UInt8>]) -> Reading {
    var parser = ServerSentEventParser(maxEventBytes: limit)
    var events: [Data] = []
    do {
        for piece in pieces {
            events += try parser.feed(piece)
            check(parser.bufferedBytes <= limit, "holds \(parser.bufferedBytes) bytes over a limit of \(limit)")
        }
    } catch {
        return .tooLarge
    }
    events += parser.finish()
    return .events(events)
}
