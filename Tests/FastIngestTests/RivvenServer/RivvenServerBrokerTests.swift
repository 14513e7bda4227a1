import Glibc
import Testing

@testable import FastIngest

/// Topic, publish, partitioning and consume semantics of rivvend 0.0.22 (WIRE.md §7, §10), over TCP.
@Suite("RivvenTestServer: topics, publish, consume")
struct RivvenServerBrokerTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("CreateTopic: default and explicit counts, the limits, already-exists and bad names")
    func createTopic() throws {
        let (server, port) = try RivvenServerTestSupport.startServer(.init(defaultPartitions: 5))
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(try client.call(.createTopic(name: "d", partitions: nil)) == .topicCreated(name: "d", partitions: 5))
        #expect(
            try client.call(.createTopic(name: "e", partitions: 1000)) == .topicCreated(name: "e", partitions: 1000)
        )
        #expect(try client.call(.createTopic(name: "d", partitions: 2)) == .error(message: "Topic 'd' already exists"))
        #expect(
            try client.call(.createTopic(name: "z", partitions: 0))
                == .error(message: "INVALID_PARTITION_COUNT: must be between 1 and 1000, got 0")
        )
        #expect(
            try client.call(.createTopic(name: "z", partitions: 1001))
                == .error(message: "INVALID_PARTITION_COUNT: must be between 1 and 1000, got 1001")
        )
        #expect(
            try client.call(.createTopic(name: "a..b", partitions: 1))
                == .error(message: "INVALID_TOPIC_NAME: Invalid topic name 'a..b': path traversal patterns not allowed")
        )
        #expect(
            try client.call(.createTopic(name: "", partitions: 1))
                == .error(message: "INVALID_TOPIC_NAME: Topic name cannot be empty")
        )
        #expect(
            try client.call(.createTopic(name: "_x", partitions: 1))
                == .error(
                    message:
                        "INVALID_TOPIC_NAME: Invalid topic name '_x': must start with alphanumeric and contain only "
                        + "alphanumeric, dots, hyphens, underscores"
                )
        )
        #expect(
            try client.call(.createTopic(name: "A1.b_c-D", partitions: 1))
                == .topicCreated(name: "A1.b_c-D", partitions: 1)
        )
        #expect(try client.call(.listTopics) == .topics(["d", "e", "A1.b_c-D"]))
        #expect(server.topicNames() == ["d", "e", "A1.b_c-D"])
        #expect(server.partitionCount(topic: "e") == 1000)
    }

    @Test("Publish: auto-creates with the default count; explicit partition checked; keyed → murmur2")
    func publish() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(try client.call(.getMetadata(topic: "auto")) == .error(message: "Topic not found: auto"))
        #expect(
            try client.call(.publish(topic: "auto", partition: 2, key: nil, value: [1], leaderEpoch: nil))
                == .published(offset: 0, partition: 2)
        )
        #expect(try client.call(.getMetadata(topic: "auto")) == .metadata(name: "auto", partitions: 3))
        #expect(
            try client.call(.publish(topic: "auto", partition: 3, key: nil, value: [1], leaderEpoch: nil))
                == .error(message: "INVALID_PARTITION: Invalid partition 3: must be < 3")
        )
        #expect(
            try client.call(.publish(topic: "sensors/room1", partition: nil, key: nil, value: [1], leaderEpoch: 5))
                == .error(
                    message: "INVALID_TOPIC_NAME: Invalid topic name 'sensors/room1': must start with alphanumeric and "
                        + "contain only alphanumeric, dots, hyphens, underscores"
                )
        )
        // The official producer's expectation for keys key-0 … key-5 over 3 partitions (WIRE.md §4).
        let expected: [UInt32] = [1, 0, 2, 2, 0, 2]
        for (index, partition) in expected.enumerated() {
            let reply = try client.call(
                .publish(
                    topic: "keyed",
                    partition: nil,
                    key: Self.bytes("key-\(index)"),
                    value: [UInt8(index)],
                    leaderEpoch: nil
                )
            )
            guard case .published(_, let chosen) = reply else {
                Issue.record("unexpected \(reply)")
                continue
            }
            #expect(chosen == partition, "key-\(index)")
        }
        #expect(server.records(topic: "keyed", partition: 2).map(\.value) == [[2], [3], [5]])
        #expect(server.allRecords(topic: "keyed").map(\.partition) == [0, 0, 1, 2, 2, 2])
        #expect(server.topicNames() == ["auto", "keyed"])
    }

    @Test("PublishBatch: contiguous offsets; partition None → from the first record's key; empty → {0,0,0}")
    func publishBatch() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(
            try client.call(.publishBatch(topic: "bad/name", partition: 9, records: [], leaderEpoch: nil))
                == .publishedBatch(baseOffset: 0, partition: 0, recordCount: 0)
        )
        #expect(server.topicNames().isEmpty)
        // key-0 → partition 1 of 3; the second record has another key but follows the first.
        let records = [
            RivvenBatchRecord(key: Self.bytes("key-0"), value: [1]), .init(key: Self.bytes("key-1"), value: [2]),
            .init(value: [3]),
        ]
        #expect(
            try client.call(.publishBatch(topic: "b", partition: nil, records: records, leaderEpoch: nil))
                == .publishedBatch(baseOffset: 0, partition: 1, recordCount: 3)
        )
        #expect(
            try client.call(.publishBatch(topic: "b", partition: 1, records: records, leaderEpoch: nil))
                == .publishedBatch(baseOffset: 3, partition: 1, recordCount: 3)
        )
        #expect(
            try client.call(.publishBatch(topic: "b", partition: 7, records: records, leaderEpoch: nil))
                == .error(message: "INVALID_PARTITION: Invalid partition 7: must be < 3")
        )
        let stored = server.records(topic: "b", partition: 1)
        #expect(stored.map(\.offset) == Array(0..<6))
        #expect(
            stored.map(\.key) == [
                Self.bytes("key-0"), Self.bytes("key-1"), nil, Self.bytes("key-0"), Self.bytes("key-1"), nil,
            ]
        )
        // The broker stamps append time.
        let now = wallClockMilliseconds()
        #expect(stored.allSatisfy { abs($0.timestamp - now) < 60_000 })
    }

    @Test("keyless publishes stick to a partition per topic, starting at a server-wide counter, then rotate")
    func stickyPartitioning() throws {
        let configuration = RivvenTestServer.Configuration(stickyBatchSize: 4, stickyLinger: .seconds(3600))
        let (server, port) = try RivvenServerTestSupport.startServer(configuration)
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        func partitions(_ topic: String, _ count: Int) throws -> [UInt32] {
            try (0..<count).map { _ in
                guard
                    case .published(_, let partition) = try client.call(
                        .publish(topic: topic, partition: nil, key: nil, value: [0], leaderEpoch: nil)
                    )
                else {
                    return 99
                }
                return partition
            }
        }
        #expect(try partitions("s1", 10) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
        #expect(try partitions("s2", 5) == [1, 1, 1, 1, 2])
        // A keyed publish does not advance the run.
        _ = try client.call(.publish(topic: "s1", partition: nil, key: [1], value: [0], leaderEpoch: nil))
        #expect(try partitions("s1", 3) == [2, 2, 0])
        // PublishBatch without a partition counts as one call.
        let batch = [RivvenBatchRecord](repeating: .init(value: [1]), count: 5)
        #expect(
            try client.call(.publishBatch(topic: "s3", partition: nil, records: batch, leaderEpoch: nil))
                == .publishedBatch(baseOffset: 0, partition: 2, recordCount: 5)
        )

        let lingering = RivvenTestServer.Configuration(stickyBatchSize: 0, stickyLinger: .milliseconds(150))
        let (timed, timedPort) = try RivvenServerTestSupport.startServer(lingering)
        defer { timed.stop() }
        let other = try RivvenServerTestSupport.connect(timedPort)
        let publish = RivvenRequest.publish(topic: "t", partition: nil, key: nil, value: [0], leaderEpoch: nil)
        #expect(try other.call(publish) == .published(offset: 0, partition: 0))
        #expect(try other.call(publish) == .published(offset: 1, partition: 0))
        usleepMilliseconds(200)
        #expect(try other.call(publish) == .published(offset: 0, partition: 1))
    }

    @Test("Consume: offsets ≥ the requested one, capped count, errors; GetOffsetBounds; GetOffsetForTimestamp")
    func consume() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(.createTopic(name: "c", partitions: 2))
        let before = wallClockMilliseconds()
        for index in 0..<5 {
            _ = try client.call(
                .publish(topic: "c", partition: 1, key: index == 2 ? [] : nil, value: [UInt8(index)], leaderEpoch: nil)
            )
        }
        guard
            case .messages(let messages) = try client.call(
                .consume(topic: "c", partition: 1, offset: 1, maxMessages: 3, isolationLevel: nil, maxWaitMs: nil)
            )
        else {
            Issue.record("not Messages")
            return
        }
        #expect(messages.map(\.offset) == [1, 2, 3])
        #expect(messages.map(\.value) == [[1], [2], [3]])
        #expect(messages.map(\.key) == [nil, [], nil])
        #expect(messages.allSatisfy { $0.partition == 1 && $0.headers.isEmpty && $0.timestamp >= before })
        #expect(
            try client.call(
                .consume(topic: "c", partition: 1, offset: 5, maxMessages: 10, isolationLevel: 1, maxWaitMs: nil)
            ) == .messages([])
        )
        #expect(
            try client.call(
                .consume(topic: "c", partition: 1, offset: 0, maxMessages: 0, isolationLevel: nil, maxWaitMs: nil)
            ) == .messages([])
        )
        #expect(
            try client.call(
                .consume(topic: "c", partition: 2, offset: 0, maxMessages: 1, isolationLevel: nil, maxWaitMs: nil)
            ) == .error(message: "INVALID_PARTITION: Invalid partition 2: must be < 2")
        )
        #expect(
            try client.call(
                .consume(topic: "nope", partition: 0, offset: 0, maxMessages: 1, isolationLevel: nil, maxWaitMs: nil)
            ) == .error(message: "Topic not found: nope")
        )
        #expect(try client.call(.getOffsetBounds(topic: "c", partition: 1)) == .offsetBounds(earliest: 0, latest: 5))
        #expect(try client.call(.getOffsetBounds(topic: "c", partition: 0)) == .offsetBounds(earliest: 0, latest: 0))
        #expect(
            try client.call(.getOffsetBounds(topic: "c", partition: 4))
                == .error(message: "Partition 4 not found for topic 'c'")
        )
        #expect(
            try client.call(.getOffsetBounds(topic: "nope", partition: 0)) == .error(message: "Topic not found: nope")
        )
        #expect(
            try client.call(.getOffsetForTimestamp(topic: "c", partition: 1, timestampMs: -1)) == .offsetForTimestamp(0)
        )
        #expect(
            try client.call(.getOffsetForTimestamp(topic: "c", partition: 1, timestampMs: before + 3_600_000))
                == .offsetForTimestamp(nil)
        )
        #expect(
            try client.call(.getOffsetForTimestamp(topic: "c", partition: 0, timestampMs: 0))
                == .offsetForTimestamp(nil)
        )
        // 10 000 messages at most per reply.
        let many = [RivvenBatchRecord](repeating: .init(value: [7]), count: 10_000)
        _ = try client.call(.publishBatch(topic: "c", partition: 0, records: many, leaderEpoch: nil))
        _ = try client.call(.publishBatch(topic: "c", partition: 0, records: many, leaderEpoch: nil))
        guard
            case .messages(let capped) = try client.call(
                .consume(topic: "c", partition: 0, offset: 0, maxMessages: 50_000, isolationLevel: nil, maxWaitMs: nil)
            )
        else {
            Issue.record("not Messages")
            return
        }
        #expect(capped.count == 10_000)
    }

    @Test("Consume with max_wait_ms waits for new data, or returns empty when the wait ends")
    func longPoll() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let consumer = try RivvenServerTestSupport.connect(port)
        _ = try consumer.call(.createTopic(name: "lp", partitions: 1))
        var start = ContinuousClock.now
        #expect(
            try consumer.call(
                .consume(topic: "lp", partition: 0, offset: 0, maxMessages: 10, isolationLevel: nil, maxWaitMs: 300)
            ) == .messages([])
        )
        #expect(ContinuousClock.now - start >= .milliseconds(300))
        start = ContinuousClock.now
        // A plain thread publishes while this one waits in the long poll.
        let producer = DriverThread(name: "lp-producer") {
            usleepMilliseconds(150)
            let client = try? RivvenTestClient(port: port)
            _ = try? client?.call(.publish(topic: "lp", partition: 0, key: nil, value: [42], leaderEpoch: nil))
        }
        let reply = try consumer.call(
            .consume(topic: "lp", partition: 0, offset: 0, maxMessages: 10, isolationLevel: nil, maxWaitMs: 20_000)
        )
        producer.join()
        guard case .messages(let messages) = reply else {
            Issue.record("not Messages: \(reply)")
            return
        }
        #expect(messages.map(\.value) == [[42]])
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test("consumer group offsets: GetOffset, CommitOffset and their checks")
    func groupOffsets() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(
            .publishBatch(topic: "g", partition: 0, records: [.init(value: [1]), .init(value: [2])], leaderEpoch: nil)
        )
        #expect(try client.call(.getOffset(consumerGroup: "grp", topic: "g", partition: 0)) == .offset(nil))
        #expect(
            try client.call(.commitOffset(consumerGroup: "grp", topic: "g", partition: 0, offset: 2))
                == .offsetCommitted
        )
        #expect(try client.call(.getOffset(consumerGroup: "grp", topic: "g", partition: 0)) == .offset(2))
        #expect(
            try client.call(.commitOffset(consumerGroup: "grp", topic: "g", partition: 0, offset: 3))
                == .error(message: "OFFSET_OUT_OF_RANGE: offset 3 exceeds latest offset 2 for partition 0")
        )
        #expect(
            try client.call(.commitOffset(consumerGroup: "grp", topic: "g", partition: 9, offset: 0))
                == .error(message: "UNKNOWN_PARTITION: partition 9 does not exist in topic 'g'")
        )
        #expect(
            try client.call(.commitOffset(consumerGroup: "grp", topic: "h", partition: 0, offset: 0))
                == .error(message: "UNKNOWN_TOPIC: topic 'h' does not exist")
        )
        #expect(
            try client.call(.commitOffset(consumerGroup: "g/1", topic: "g", partition: 0, offset: 0))
                == .error(message: "INVALID_CONSUMER_GROUP: Invalid consumer group ID: g/1")
        )
        #expect(server.committedOffset(group: "grp", topic: "g", partition: 0) == 2)
    }

    @Test("without record retention, offsets, bounds and idempotence still work but nothing is kept")
    func withoutRetention() throws {
        let (server, port) = try RivvenServerTestSupport.startServer(.init(retainRecords: false))
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(.initProducerID(producerID: nil))
        let batch = RivvenRequest.idempotentPublishBatch(
            topic: "n",
            partition: 0,
            records: [.init(value: [1]), .init(value: [2])],
            idempotence: .init(producerID: 1, producerEpoch: 0, baseSequence: 0),
            leaderEpoch: nil
        )
        #expect(
            try client.call(batch)
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: false)
        )
        #expect(
            try client.call(batch)
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: true)
        )
        #expect(
            try client.call(.publish(topic: "n", partition: 0, key: nil, value: [3], leaderEpoch: nil))
                == .published(offset: 2, partition: 0)
        )
        #expect(try client.call(.getOffsetBounds(topic: "n", partition: 0)) == .offsetBounds(earliest: 0, latest: 3))
        #expect(
            try client.call(
                .consume(topic: "n", partition: 0, offset: 0, maxMessages: 10, isolationLevel: nil, maxWaitMs: nil)
            ) == .messages([])
        )
        #expect(server.records(topic: "n", partition: 0).isEmpty)
        #expect(server.nextOffset(topic: "n", partition: 0) == 3)
        #expect(server.nextOffset(topic: "n", partition: 3) == nil)
        #expect(server.statistics.recordsStored == 3)
    }

    @Test("authentication requests without --require-auth: UNSUPPORTED")
    func authenticationWithoutAuth() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        let unsupported = RivvenResponse.error(message: "UNSUPPORTED: Use authenticated endpoint for authentication")
        #expect(try client.call(.scramClientFirst(message: Self.bytes("n,,n=a,r=b"))) == unsupported)
        #expect(try client.call(.authenticate(username: "u", password: "p", requireTLS: false)) == unsupported)
        #expect(try client.call(.listTopics) == .topics([]))
        #expect(server.statistics.requests("ScramClientFirst") == 1)
    }
}

func wallClockMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
