/// A failure of the test harness itself (a tool that could not start, a broker that never came up, a command
/// that timed out). The message carries whatever output explains it, so a failing test shows the reason.
struct HarnessError: Error, CustomStringConvertible {
    var message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}

extension String {
    /// The last `maxCharacters` characters, marked as cut when cut, for putting long logs into error messages.
    func harnessTail(_ maxCharacters: Int = 4_000) -> String {
        guard count > maxCharacters else { return self }
        return "…(cut)…" + suffix(maxCharacters)
    }
}
