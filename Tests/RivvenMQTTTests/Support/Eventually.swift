/// Polls a condition until it holds or a deadline passes.
///
/// The timeout is a liveness limit (so no test hangs), never a performance assertion: choose generous values
/// (20–30 s) so a loaded 2-core CI machine does not fail a test that is merely slow.
enum Eventually {
    /// Evaluates `condition` every `interval` until it returns `true` (then returns `true`) or `timeout` has
    /// passed (then returns `false` after one last evaluation). Returns `false` early if the task is cancelled.
    @discardableResult
    static func wait(
        timeout: Duration = .seconds(30),
        interval: Duration = .milliseconds(50),
        isolation: isolated (any Actor)? = #isolation,
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            if try await condition() { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: interval)
        }
    }
}
