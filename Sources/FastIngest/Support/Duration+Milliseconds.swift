extension Duration {
    /// Whole milliseconds, rounded toward zero (for `poll` timeouts and backoff delays).
    var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
