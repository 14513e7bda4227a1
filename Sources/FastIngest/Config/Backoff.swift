/// Exponential backoff with full jitter, as a pure value.
///
/// The ceiling of retry `attempt` (0 = the first retry) is `min(maximum, initial × multiplier^attempt)`;
/// the delay is drawn uniformly from `0 … ceiling` with the caller's random-number generator, so tests can
/// seed it. Nothing here sleeps or reads a clock.
public struct Backoff: Sendable, Equatable {
    /// The ceiling of the first retry, in milliseconds.
    public var initialMilliseconds: Int
    /// The largest ceiling, in milliseconds.
    public var maximumMilliseconds: Int
    /// The growth factor per attempt (≥ 1).
    public var multiplier: Double

    /// Creates a policy.
    ///
    /// - Precondition: `initialMilliseconds ≥ 0`, `maximumMilliseconds ≥ 0`, `multiplier` finite and ≥ 1.
    public init(initialMilliseconds: Int, maximumMilliseconds: Int, multiplier: Double) {
        precondition(initialMilliseconds >= 0, "Backoff: initialMilliseconds must not be negative")
        precondition(maximumMilliseconds >= 0, "Backoff: maximumMilliseconds must not be negative")
        precondition(multiplier.isFinite && multiplier >= 1, "Backoff: multiplier must be finite and at least 1")
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
        self.multiplier = multiplier
    }

    /// The policy of an MQTT source's `retry_initial_ms`, `retry_max_ms` and `retry_multiplier`.
    public init(_ mqtt: MQTTConfiguration) {
        self.init(
            initialMilliseconds: mqtt.retryInitialMs,
            maximumMilliseconds: mqtt.retryMaxMs,
            multiplier: mqtt.retryMultiplier
        )
    }

    /// The ceiling of `attempt` in milliseconds; never overflows, whatever the attempt number.
    public func ceilingMilliseconds(forAttempt attempt: Int) -> Int {
        if initialMilliseconds == 0 { return 0 }
        let exponent = Double(max(attempt, 0))
        // power() may reach +infinity for huge attempts; min() with the maximum then caps it.
        let grown = Double(initialMilliseconds) * power(multiplier, exponent)
        let capped = min(Double(maximumMilliseconds), grown)
        return capped.isNaN ? maximumMilliseconds : Int(capped.rounded(.down))
    }

    /// The ceiling of `attempt` (0 = the first retry): `min(maximum, initial × multiplier^attempt)`.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        .milliseconds(ceilingMilliseconds(forAttempt: attempt))
    }

    /// A delay drawn uniformly from `0 … ceiling(forAttempt: attempt)`, at nanosecond resolution.
    public func delay(forAttempt attempt: Int, using rng: inout some RandomNumberGenerator) -> Duration {
        let ceilingNanoseconds = Int64(ceilingMilliseconds(forAttempt: attempt)) * 1_000_000
        return .nanoseconds(Int64.random(in: 0...ceilingNanoseconds, using: &rng))
    }
}

/// `base^exponent` for whole exponents by repeated squaring, so this pure file needs no Foundation.
private func power(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var factor = base
    var remaining = UInt64(min(exponent, 1e18))
    while remaining > 0 {
        if remaining & 1 == 1 { result *= factor }
        remaining >>= 1
        if remaining > 0 { factor *= factor }
        if result.isInfinite { return result }
    }
    return result
}
