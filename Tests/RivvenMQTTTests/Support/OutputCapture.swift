import Synchronization

/// The bytes one output stream of a child process has written so far, appended by a reader thread and read
/// by tests, with the stream split into lines as it arrives.
final class OutputCapture: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        /// Complete lines, without their `\n`.
        var lines: [String] = []
        /// Where the unterminated last line starts in `bytes`.
        var lineStart = 0
        var finished = false
    }

    private let state = Mutex(State())

    func append(_ chunk: ArraySlice<UInt8>) {
        state.withLock { state in
            let scanFrom = state.bytes.count
            state.bytes.append(contentsOf: chunk)
            var index = scanFrom
            while index < state.bytes.count {
                if state.bytes[index] == UInt8(ascii: "\n") {
                    state.lines.append(String(decoding: state.bytes[state.lineStart..<index], as: UTF8.self))
                    state.lineStart = index + 1
                }
                index += 1
            }
        }
    }

    /// Marks end of file: the stream is complete.
    func finish() {
        state.withLock { $0.finished = true }
    }

    /// Whether the writer closed the stream (end of file was read).
    var isFinished: Bool { state.withLock { $0.finished } }

    var bytes: [UInt8] { state.withLock { $0.bytes } }

    var byteCount: Int { state.withLock { $0.bytes.count } }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The complete lines so far, plus the unterminated last line once the stream is finished.
    var lines: [String] {
        state.withLock { state in
            var lines = state.lines
            if state.finished && state.lineStart < state.bytes.count {
                lines.append(String(decoding: state.bytes[state.lineStart...], as: UTF8.self))
            }
            return lines
        }
    }

    /// The complete lines from index `start` on (for callers that consume lines incrementally).
    func completeLines(from start: Int) -> [String] {
        state.withLock { state in
            start < state.lines.count ? Array(state.lines[start...]) : []
        }
    }

    /// The number of complete lines so far.
    var completeLineCount: Int { state.withLock { $0.lines.count } }

    /// Whether `needle` occurs in the bytes from `offset` on; also returns where the next search may start
    /// so that repeated polls scan only new bytes.
    func search(_ needle: [UInt8], from offset: Int) -> (found: Bool, nextOffset: Int) {
        state.withLock { state in
            let bytes = state.bytes
            guard !needle.isEmpty else { return (true, offset) }
            let start = max(0, offset)
            let lastStart = bytes.count - needle.count
            if lastStart >= start {
                for candidate in start...lastStart where bytes[candidate] == needle[0] {
                    if bytes[candidate..<(candidate + needle.count)].elementsEqual(needle) {
                        return (true, candidate)
                    }
                }
            }
            return (false, max(start, bytes.count - needle.count + 1))
        }
    }
}
