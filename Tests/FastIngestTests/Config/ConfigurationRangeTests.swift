import FastIngest
import Testing

extension ConfigTests {
    @Suite struct Ranges {
        /// One ranged key: where it lives, its bounds as written in YAML, and how to read it back.
        struct RangedKey: Sendable, CustomTestStringConvertible {
            /// `nil` for `config:`, else a top-level section such as `batch`.
            var section: String?
            var key: String
            var minimum: String
            var maximum: String
            /// The values just outside the range, or `nil` where the bound is the type's own limit.
            var belowMinimum: String?
            var aboveMaximum: String?
            var expectedMinimum: Double
            var expectedMaximum: Double
            /// More lines for the same section, needed by some keys (such as `shared_group`).
            var companions: [String] = []
            /// More top-level lines.
            var top: [String] = []
            var read: @Sendable (IngestConfiguration) -> Double

            var testDescription: String { "\(section ?? "config").\(key)" }
            var path: String { "\(section ?? "config").\(key)" }

            func yaml(_ value: String) -> String {
                if let section {
                    let lines = [section + ":", "  \(key): \(value)"] + companions.map { "  " + $0 }
                    return ConfigFixture.connector(top: lines + top)
                }
                return ConfigFixture.connector(config: ["\(key): \(value)"] + companions, top: top)
            }
        }

        static func mqtt(
            _ key: String,
            _ minimum: Int,
            _ maximum: Int,
            companions: [String] = [],
            top: [String] = [],
            _ read: @escaping @Sendable (MQTTConfiguration) -> Int
        ) -> RangedKey {
            RangedKey(
                section: nil,
                key: key,
                minimum: "\(minimum)",
                maximum: "\(maximum)",
                belowMinimum: "\(minimum - 1)",
                aboveMaximum: "\(maximum + 1)",
                expectedMinimum: Double(minimum),
                expectedMaximum: Double(maximum),
                companions: companions,
                top: top,
                read: { Double(read($0.sources[0].mqtt)) }
            )
        }

        static let keys: [RangedKey] = [
            mqtt("keep_alive_secs", 5, 65535) { $0.keepAliveSecs },
            mqtt("connect_timeout_secs", 1, 300) { $0.connectTimeoutSecs },
            mqtt("max_inflight", 1, 65535) { $0.maxInflight },
            mqtt("reconnect_delay_ms", 100, 60000) { $0.reconnectDelayMs },
            mqtt("max_reconnect_attempts", 0, 4_294_967_295) { $0.maxReconnectAttempts },
            mqtt("retry_initial_ms", 10, 60000, companions: ["retry_max_ms: 300000"]) { $0.retryInitialMs },
            mqtt("retry_max_ms", 100, 300_000) { $0.retryMaxMs },
            mqtt("empty_poll_delay_ms", 0, 60000) { $0.emptyPollDelayMs },
            mqtt("connections", 1, 64, companions: ["shared_group: ingest"]) { $0.connections },
            mqtt("max_payload_bytes", 1, 268_435_456, top: ["buffer:", "  capacity_bytes: 256MiB"]) {
                $0.maxPayloadBytes
            },
            RangedKey(
                section: nil,
                key: "retry_multiplier",
                minimum: "1.0",
                maximum: "10.0",
                belowMinimum: "0.99",
                aboveMaximum: "10.01",
                expectedMinimum: 1.0,
                expectedMaximum: 10.0,
                read: { $0.sources[0].mqtt.retryMultiplier }
            ),
            RangedKey(
                section: "batch",
                key: "max_messages",
                minimum: "1",
                maximum: "10000",
                belowMinimum: "0",
                aboveMaximum: "10001",
                expectedMinimum: 1,
                expectedMaximum: 10000,
                read: { Double($0.batch.maxMessages) }
            ),
            RangedKey(
                section: "batch",
                key: "max_bytes",
                minimum: "1024",
                maximum: "8MiB",
                belowMinimum: "1023",
                aboveMaximum: "8388609",
                expectedMinimum: 1024,
                expectedMaximum: 8_388_608,
                read: { Double($0.batch.maxBytes) }
            ),
            RangedKey(
                section: "batch",
                key: "linger_ms",
                minimum: "0",
                maximum: "10000",
                belowMinimum: "-1",
                aboveMaximum: "10001",
                expectedMinimum: 0,
                expectedMaximum: 10000,
                read: { Double($0.batch.lingerMs) }
            ),
            RangedKey(
                section: "buffer",
                key: "capacity_messages",
                minimum: "1024",
                maximum: "16777216",
                belowMinimum: "1023",
                aboveMaximum: "16777217",
                expectedMinimum: 1024,
                expectedMaximum: 16_777_216,
                read: { Double($0.buffer.capacityMessages) }
            ),
            RangedKey(
                section: "buffer",
                key: "capacity_bytes",
                minimum: "1MiB",
                maximum: "64GiB",
                belowMinimum: "1048575",
                aboveMaximum: "68719476737",
                expectedMinimum: 1_048_576,
                expectedMaximum: 68_719_476_736,
                read: { Double($0.buffer.capacityBytes) }
            ),
            RangedKey(
                section: "log",
                key: "segment_bytes",
                minimum: "1MiB",
                maximum: "1GiB",
                belowMinimum: "1048575",
                aboveMaximum: "1073741825",
                expectedMinimum: 1_048_576,
                expectedMaximum: 1_073_741_824,
                companions: ["max_bytes: 2GiB"],
                read: { Double($0.log.segmentBytes) }
            ),
            RangedKey(
                section: "log",
                key: "max_bytes",
                minimum: "1MiB",
                maximum: "\(Int.max)",
                belowMinimum: "1048575",
                aboveMaximum: nil,
                expectedMinimum: 1_048_576,
                expectedMaximum: Double(Int.max),
                companions: ["segment_bytes: 1MiB"],
                read: { Double($0.log.maxBytes) }
            ),
            RangedKey(
                section: "broker",
                key: "partitions",
                minimum: "1",
                maximum: "1000",
                belowMinimum: "0",
                aboveMaximum: "1001",
                expectedMinimum: 1,
                expectedMaximum: 1000,
                companions: ["bootstrap_servers: [\"rivven:9092\"]"],
                read: { Double($0.rivven?.partitions ?? -1) }
            ),
        ]

        @Test(arguments: keys)
        func minimumAndMaximumAreAccepted(_ ranged: RangedKey) throws {
            let low = try #require(ConfigFixture.parse(ranged.yaml(ranged.minimum)))
            #expect(ranged.read(low) == ranged.expectedMinimum)
            let high = try #require(ConfigFixture.parse(ranged.yaml(ranged.maximum)))
            #expect(ranged.read(high) == ranged.expectedMaximum)
        }

        @Test(arguments: keys)
        func justOutsideTheRangeIsRejectedWithThePath(_ ranged: RangedKey) {
            if let below = ranged.belowMinimum {
                let problems = ConfigFixture.problems(ranged.yaml(below))
                #expect(problems.count == 1)
                #expect(problems.first?.path == ranged.path)
                #expect(problems.first?.message.contains("below the minimum") == true, "\(problems)")
            }
            if let above = ranged.aboveMaximum {
                let problems = ConfigFixture.problems(ranged.yaml(above))
                #expect(problems.count == 1)
                #expect(problems.first?.path == ranged.path)
                #expect(problems.first?.message.contains("above the maximum") == true, "\(problems)")
            }
        }

        @Test func specMessageForKeepAlive() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(config: ["keep_alive_secs: 3"]))
            #expect(lines == ["config.keep_alive_secs: 3 is below the minimum 5"])
        }

        @Test func sizeMessagesUseUnits() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(top: ["log:", "  segment_bytes: 2GiB"]))
            #expect(lines == ["log.segment_bytes: 2 GiB is above the maximum 1 GiB"])
        }

        @Test func capacityMessagesMustBeAPowerOfTwo() {
            let lines = ConfigFixture.lines(ConfigFixture.connector(top: ["buffer:", "  capacity_messages: 3000"]))
            #expect(lines == ["buffer.capacity_messages: 3000 is not a power of two (such as 2048 or 4096)"])
        }

        @Test func logMaxBytesMustHoldASegment() {
            let yaml = ConfigFixture.connector(top: ["log:", "  segment_bytes: 64MiB", "  max_bytes: 32MiB"])
            #expect(ConfigFixture.lines(yaml) == ["log.max_bytes: 32 MiB is below segment_bytes (64 MiB)"])
        }

        @Test func retryMaxBelowRetryInitialIsRejected() {
            let yaml = ConfigFixture.connector(config: ["retry_initial_ms: 5000", "retry_max_ms: 1000"])
            #expect(ConfigFixture.lines(yaml) == ["config.retry_max_ms: 1000 is below retry_initial_ms (5000)"])
        }

        @Test func payloadLargerThanTheBufferIsRejected() {
            let yaml = ConfigFixture.connector(config: ["max_payload_bytes: 128MiB"])
            let problems = ConfigFixture.problems(yaml)
            #expect(problems.map(\.path) == ["config.max_payload_bytes"])
            #expect(problems.first?.message.contains("buffer.capacity_bytes") == true)
        }

        @Test(arguments: [("interval:1", 1), ("interval:60000", 60000), ("interval: 250", 250)])
        func fsyncIntervalBounds(_ text: String, _ milliseconds: Int) throws {
            let yaml = ConfigFixture.connector(top: ["log:", "  fsync: \"\(text)\""])
            let configuration = try #require(ConfigFixture.parse(yaml))
            #expect(configuration.log.fsync == .interval(milliseconds: milliseconds))
        }

        @Test(arguments: ["interval:0", "interval:60001", "interval:", "interval:abc", "sometimes"])
        func badFsyncPolicies(_ text: String) {
            let problems = ConfigFixture.problems(ConfigFixture.connector(top: ["log:", "  fsync: \"\(text)\""]))
            #expect(problems.map(\.path) == ["log.fsync"])
        }

        @Test func fsyncNamedPolicies() throws {
            let never = try #require(ConfigFixture.parse(ConfigFixture.connector(top: ["log:", "  fsync: never"])))
            #expect(never.log.fsync == .never)
            let batch = try #require(ConfigFixture.parse(ConfigFixture.connector(top: ["log:", "  fsync: batch"])))
            #expect(batch.log.fsync == .batch)
        }
    }
}
