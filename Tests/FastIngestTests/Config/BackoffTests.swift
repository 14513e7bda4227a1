import FastIngest
import Testing

extension ConfigTests {
    @Suite struct BackoffPolicy {
        let backoff = Backoff(initialMilliseconds: 100, maximumMilliseconds: 10_000, multiplier: 2.0)

        @Test func ceilingsGrowByTheMultiplierAndCapAtTheMaximum() {
            let expected = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
            for (attempt, milliseconds) in expected.enumerated() {
                #expect(backoff.ceiling(forAttempt: attempt) == .milliseconds(milliseconds), "attempt \(attempt)")
            }
        }

        @Test func fractionalMultiplier() {
            let slow = Backoff(initialMilliseconds: 1000, maximumMilliseconds: 300_000, multiplier: 1.5)
            #expect(slow.ceiling(forAttempt: 0) == .milliseconds(1000))
            #expect(slow.ceiling(forAttempt: 1) == .milliseconds(1500))
            #expect(slow.ceiling(forAttempt: 2) == .milliseconds(2250))
        }

        @Test func multiplierOneKeepsTheCeilingConstant() {
            let flat = Backoff(initialMilliseconds: 250, maximumMilliseconds: 10_000, multiplier: 1.0)
            #expect(flat.ceiling(forAttempt: 0) == .milliseconds(250))
            #expect(flat.ceiling(forAttempt: 1_000_000) == .milliseconds(250))
        }

        @Test(arguments: [63, 64, 1000, 1_000_000, Int.max])
        func hugeAttemptsDoNotOverflow(_ attempt: Int) {
            #expect(backoff.ceiling(forAttempt: attempt) == .milliseconds(10_000))
            var rng = SplitMix64(seed: 7)
            let delay = backoff.delay(forAttempt: attempt, using: &rng)
            #expect(delay >= .zero && delay <= .milliseconds(10_000))
        }

        @Test func negativeAttemptIsTheFirstRetry() {
            #expect(backoff.ceiling(forAttempt: -5) == .milliseconds(100))
        }

        @Test func delaysStayWithinZeroAndTheCeilingAndSpreadOut() {
            var rng = SplitMix64(seed: 0x5eed)
            for attempt in 0..<12 {
                let ceiling = backoff.ceiling(forAttempt: attempt)
                var smallest = ceiling
                var largest = Duration.zero
                for _ in 0..<2000 {
                    let delay = backoff.delay(forAttempt: attempt, using: &rng)
                    #expect(delay >= .zero)
                    #expect(delay <= ceiling)
                    smallest = min(smallest, delay)
                    largest = max(largest, delay)
                }
                // Full jitter: draws cover the low and the high end of the range.
                #expect(smallest < ceiling / 10, "attempt \(attempt)")
                #expect(largest > ceiling * 9 / 10, "attempt \(attempt)")
            }
        }

        @Test func sameSeedGivesTheSameDelays() {
            var first = SplitMix64(seed: 42)
            var second = SplitMix64(seed: 42)
            let a = (0..<20).map { backoff.delay(forAttempt: $0, using: &first) }
            let b = (0..<20).map { backoff.delay(forAttempt: $0, using: &second) }
            #expect(a == b)
        }

        @Test func zeroInitialMeansNoDelay() {
            let none = Backoff(initialMilliseconds: 0, maximumMilliseconds: 1000, multiplier: 10)
            #expect(none.ceiling(forAttempt: Int.max) == .zero)
        }

        @Test func builtFromTheMQTTRetryKeys() throws {
            let yaml = ConfigFixture.connector(config: [
                "retry_initial_ms: 50", "retry_max_ms: 2000", "retry_multiplier: 3",
            ])
            let configuration = try #require(ConfigFixture.parse(yaml))
            let policy = Backoff(configuration.sources[0].mqtt)
            #expect(policy == Backoff(initialMilliseconds: 50, maximumMilliseconds: 2000, multiplier: 3.0))
            #expect(policy.ceiling(forAttempt: 2) == .milliseconds(450))
            #expect(policy.ceiling(forAttempt: 4) == .milliseconds(2000))
        }
    }
}
