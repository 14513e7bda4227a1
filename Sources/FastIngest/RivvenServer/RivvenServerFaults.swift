import Synchronization

/// Faults a ``RivvenTestServer`` injects, changeable from any thread while it runs.
///
/// Request kinds are the Rust variant names of WIRE.md §9 (`PublishBatch`, `IdempotentPublishBatch`, `Ping`, …); a
/// nil set of kinds means every request. The order in which a connection applies them to each decoded request:
///
/// 1. ``pause()``: nothing is read, handled or answered until ``resume()`` (a broker that is unreachable; new
///    connections wait in the listen backlog).
/// 2. Connection drop ``DropPoint/beforeHandling``: the connection is closed, the request is lost.
/// 3. ``failNext(_:kind:message:)`` / ``replyNext(_:kind:with:)``: answered with the injected reply (same correlation
///    id), not handled.
/// 4. The request is handled (stored, …).
/// 5. Connection drop ``DropPoint/afterHandlingBeforeReply``: the connection is closed, the reply is lost.
/// 6. ``delayReplies(by:kinds:)``: the reply waits.
///
/// ``refuseConnections(_:)`` closes every new connection as soon as it is accepted (a broker that is down).
public final class RivvenServerFaults: Sendable {
    /// When a connection-drop fault closes the connection.
    public enum DropPoint: Sendable, Hashable {
        /// Before the request is handled: nothing is stored, the request is lost.
        case beforeHandling
        /// After the request is handled (records stored) and before the reply is written: the reply is lost.
        case afterHandlingBeforeReply
    }

    struct DropRule {
        var every: Int
        var point: DropPoint
        var kinds: Set<String>?
        var seen = 0
    }

    struct InjectedReply {
        var remaining: Int
        var response: RivvenResponse
    }

    struct State {
        var drop: DropRule?
        var injected: [String: InjectedReply] = [:]
        var delay: Duration = .zero
        var delayKinds: Set<String>?
        var refusing = false
        var paused = false
    }

    let state = Mutex(State())

    init() {}

    private static func checkKinds(_ kinds: Set<String>?) {
        for kind in kinds ?? [] { checkKind(kind) }
    }

    private static func checkKind(_ kind: String) {
        precondition(RivvenRequest.variantNames.contains(kind), "RivvenServerFaults: unknown request kind \(kind)")
    }

    /// Closes the connection on every `count`-th request of `kinds` (counted over all connections, from now), at
    /// `point`. Replaces an earlier drop rule.
    public func dropConnection(every count: Int, at point: DropPoint, kinds: Set<String>? = nil) {
        precondition(count >= 1, "RivvenServerFaults: drop every 0 requests")
        Self.checkKinds(kinds)
        state.withLock { $0.drop = DropRule(every: count, point: point, kinds: kinds) }
    }

    /// Stops dropping connections.
    public func stopDroppingConnections() {
        state.withLock { $0.drop = nil }
    }

    /// Answers the next `count` requests of `kind` with `Error{message}` instead of handling them (such as
    /// `BUFFER_FULL: Server publish buffer is full, retry later`). Adds to what is still pending for that kind and
    /// replaces its reply.
    public func failNext(_ count: Int, kind: String, message: String) {
        replyNext(count, kind: kind, with: .error(message: message))
    }

    /// Answers the next `count` requests of `kind` with `response` instead of handling them (such as
    /// `Throttled{…}`). Adds to what is still pending for that kind and replaces its reply.
    public func replyNext(_ count: Int, kind: String, with response: RivvenResponse) {
        precondition(count >= 0, "RivvenServerFaults: negative count")
        Self.checkKind(kind)
        state.withLock { state in
            let pending = state.injected[kind]?.remaining ?? 0
            state.injected[kind] = InjectedReply(remaining: pending + count, response: response)
        }
    }

    /// How many injected replies are still pending for `kind`.
    public func pendingReplies(kind: String) -> Int {
        state.withLock { $0.injected[kind]?.remaining ?? 0 }
    }

    /// Delays every reply to a request of `kinds` by `delay` (`.zero` stops delaying).
    public func delayReplies(by delay: Duration, kinds: Set<String>? = nil) {
        precondition(delay >= .zero, "RivvenServerFaults: negative delay")
        Self.checkKinds(kinds)
        state.withLock {
            $0.delay = delay
            $0.delayKinds = kinds
        }
    }

    /// While true, every accepted connection is closed at once (nothing is read from it).
    public func refuseConnections(_ refuse: Bool) {
        state.withLock { $0.refusing = refuse }
    }

    /// Whether new connections are refused.
    public var isRefusingConnections: Bool { state.withLock { $0.refusing } }

    /// Stops reading, handling and answering on every connection and stops accepting, until ``resume()``.
    public func pause() {
        state.withLock { $0.paused = true }
    }

    /// Undoes ``pause()``: buffered requests are then handled in order.
    public func resume() {
        state.withLock { $0.paused = false }
    }

    /// Whether the server is paused.
    public var isPaused: Bool { state.withLock { $0.paused } }

    /// Turns every fault off.
    public func reset() {
        state.withLock { $0 = State() }
    }

    // MARK: Used by connections

    /// What to do with one decoded request before it is handled.
    enum Verdict: Equatable {
        case handle(dropAfter: Bool)
        case dropBefore
        case reply(RivvenResponse)
    }

    /// Consumes the drop counter and injected errors for one request of `kind`.
    func verdict(for kind: String) -> Verdict {
        state.withLock { state in
            var dropNow: DropPoint?
            if var rule = state.drop, rule.kinds?.contains(kind) ?? true {
                rule.seen += 1
                if rule.seen % rule.every == 0 { dropNow = rule.point }
                state.drop = rule
            }
            if dropNow == .beforeHandling { return .dropBefore }
            if var injected = state.injected[kind], injected.remaining > 0 {
                injected.remaining -= 1
                state.injected[kind] = injected
                return .reply(injected.response)
            }
            return .handle(dropAfter: dropNow == .afterHandlingBeforeReply)
        }
    }

    /// The delay before the reply to a request of `kind`.
    func replyDelay(for kind: String) -> Duration {
        state.withLock { state in
            state.delayKinds?.contains(kind) ?? true ? state.delay : .zero
        }
    }
}
