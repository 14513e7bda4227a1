import FastIngest
import Testing

/// The broker-side idempotent producer rules of WIRE.md §7.6, §11 (rivvend 0.0.22), over TCP.
@Suite("RivvenTestServer: idempotent producer")
struct RivvenServerIdempotenceTests {
    static func records(_ values: [String], keyed: Bool = false) -> [RivvenBatchRecord] {
        values.map { RivvenBatchRecord(key: keyed ? Array("k-\($0)".utf8) : nil, value: Array($0.utf8)) }
    }

    static func batch(
        _ values: [String],
        topic: String = "t",
        partition: UInt32? = 0,
        producer: UInt64,
        epoch: UInt16 = 0,
        sequence: Int32
    ) -> RivvenRequest {
        .idempotentPublishBatch(
            topic: topic,
            partition: partition,
            records: records(values),
            idempotence: RivvenIdempotence(producerID: producer, producerEpoch: epoch, baseSequence: sequence),
            leaderEpoch: nil
        )
    }

    @Test(
        "InitProducerId: ids from 1, epoch 0; a known id gets the next epoch; an unknown id is registered with epoch 0"
    )
    func initProducerID() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(
            try client.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 1, producerEpoch: 0)
        )
        #expect(
            try client.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 2, producerEpoch: 0)
        )
        #expect(
            try client.call(.initProducerID(producerID: 1)) == .producerIDInitialized(producerID: 1, producerEpoch: 1)
        )
        #expect(
            try client.call(.initProducerID(producerID: 1)) == .producerIDInitialized(producerID: 1, producerEpoch: 2)
        )
        #expect(
            try client.call(.initProducerID(producerID: 77)) == .producerIDInitialized(producerID: 77, producerEpoch: 0)
        )
        #expect(
            try client.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 3, producerEpoch: 0)
        )
    }

    @Test("a resent batch (same base_sequence) is acknowledged with the same offsets and stored once")
    func duplicateBatch() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(try client.call(.createTopic(name: "t", partitions: 2)) == .topicCreated(name: "t", partitions: 2))
        #expect(
            try client.call(.publish(topic: "t", partition: 1, key: nil, value: [1], leaderEpoch: nil))
                == .published(offset: 0, partition: 1)
        )
        #expect(
            try client.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 1, producerEpoch: 0)
        )

        let first = Self.batch(["a", "b", "c"], partition: 1, producer: 1, sequence: 0)
        #expect(
            try client.call(first)
                == .idempotentPublishedBatch(baseOffset: 1, partition: 1, recordCount: 3, duplicate: false)
        )
        #expect(
            try client.call(first)
                == .idempotentPublishedBatch(baseOffset: 1, partition: 1, recordCount: 3, duplicate: true)
        )
        let second = Self.batch(["d", "e"], partition: 1, producer: 1, sequence: 3)
        #expect(
            try client.call(second)
                == .idempotentPublishedBatch(baseOffset: 4, partition: 1, recordCount: 2, duplicate: false)
        )
        // Both batches again, on a new connection: duplicates, with the offsets recorded for their base sequences.
        let other = try RivvenServerTestSupport.connect(port)
        #expect(
            try other.call(first)
                == .idempotentPublishedBatch(baseOffset: 1, partition: 1, recordCount: 3, duplicate: true)
        )
        #expect(
            try other.call(second)
                == .idempotentPublishedBatch(baseOffset: 4, partition: 1, recordCount: 2, duplicate: true)
        )

        #expect(
            server.records(topic: "t", partition: 1).map(\.value) == [[1]]
                + ["a", "b", "c", "d", "e"].map { Array($0.utf8) }
        )
        #expect(server.records(topic: "t", partition: 1).map(\.offset) == Array(0...5))
        #expect(server.statistics.duplicatesDetected == 3)
        #expect(server.statistics.recordsStored == 6)
    }

    @Test("out-of-order sequences, a fenced epoch and an unknown producer get rivvend's errors and store nothing")
    func sequenceErrors() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(.initProducerID(producerID: nil))
        #expect(
            try client.call(Self.batch(["x"], producer: 1, sequence: 1))
                == .error(message: "OUT_OF_ORDER_SEQUENCE: expected 0, got 1")
        )
        #expect(
            try client.call(Self.batch(["a", "b"], producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: false)
        )
        #expect(
            try client.call(Self.batch(["x"], producer: 1, sequence: 5))
                == .error(message: "OUT_OF_ORDER_SEQUENCE: expected 2, got 5")
        )
        #expect(
            try client.call(Self.batch(["x"], producer: 9, sequence: 0))
                == .error(message: "UNKNOWN_PRODUCER_ID: producer 9 not initialized")
        )
        // Re-initialising bumps the epoch: the old epoch is fenced, the new one starts again at 0.
        #expect(
            try client.call(.initProducerID(producerID: 1)) == .producerIDInitialized(producerID: 1, producerEpoch: 1)
        )
        #expect(
            try client.call(Self.batch(["x"], producer: 1, epoch: 0, sequence: 2))
                == .error(message: "PRODUCER_FENCED: current epoch 1, received 0")
        )
        #expect(
            try client.call(Self.batch(["x"], producer: 1, epoch: 1, sequence: 2))
                == .error(message: "OUT_OF_ORDER_SEQUENCE: expected 0, got 2")
        )
        #expect(
            try client.call(Self.batch(["c"], producer: 1, epoch: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 2, partition: 0, recordCount: 1, duplicate: false)
        )
        // A higher epoch than the broker knows is adopted and clears the sequences.
        #expect(
            try client.call(Self.batch(["d"], producer: 1, epoch: 4, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 3, partition: 0, recordCount: 1, duplicate: false)
        )
        #expect(
            try client.call(Self.batch(["x"], producer: 1, epoch: 1, sequence: 1))
                == .error(message: "PRODUCER_FENCED: current epoch 4, received 1")
        )
        // The topic was auto-created (3 partitions) by the first request, even though it failed.
        #expect(server.partitionCount(topic: "t") == 3)
        #expect(server.records(topic: "t", partition: 0).map(\.value) == ["a", "b", "c", "d"].map { Array($0.utf8) })
    }

    @Test("single IdempotentPublish: same rules, its own error texts")
    func singleIdempotentPublish() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        func publish(_ value: String, producer: UInt64 = 1, epoch: UInt16 = 0, sequence: Int32) -> RivvenRequest {
            .idempotentPublish(
                topic: "one",
                partition: 0,
                key: nil,
                value: Array(value.utf8),
                producerID: producer,
                producerEpoch: epoch,
                sequence: sequence,
                leaderEpoch: nil
            )
        }
        #expect(
            try client.call(publish("x", sequence: 0))
                == .error(message: "UNKNOWN_PRODUCER_ID: producer 1 not initialized, call InitProducerId first")
        )
        _ = try client.call(.initProducerID(producerID: nil))
        #expect(
            try client.call(publish("x", sequence: 3))
                == .error(message: "OUT_OF_ORDER_SEQUENCE: expected sequence 0, got 3")
        )
        #expect(
            try client.call(publish("a", sequence: 0))
                == .idempotentPublished(offset: 0, partition: 0, duplicate: false)
        )
        #expect(
            try client.call(publish("a", sequence: 0)) == .idempotentPublished(offset: 0, partition: 0, duplicate: true)
        )
        _ = try client.call(.initProducerID(producerID: 1))
        #expect(
            try client.call(publish("x", sequence: 0))
                == .error(message: "PRODUCER_FENCED: producer has been fenced (current epoch: 1, received: 0)")
        )
        #expect(server.records(topic: "one", partition: 0).count == 1)
    }

    @Test("sequence state is per producer and partition number, not per topic (WIRE.md §11 quirk)")
    func stateIgnoresTopic() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(.initProducerID(producerID: nil))
        #expect(
            try client.call(Self.batch(["a"], topic: "first", producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 1, duplicate: false)
        )
        // Sequence 0 for partition 0 of another topic: reported as a duplicate of the first topic's batch, dropped.
        #expect(
            try client.call(Self.batch(["b"], topic: "second", producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 1, duplicate: true)
        )
        #expect(server.records(topic: "second", partition: 0).isEmpty)
        // Another partition number has its own counter.
        #expect(
            try client.call(Self.batch(["c"], topic: "second", partition: 1, producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 1, recordCount: 1, duplicate: false)
        )
    }

    @Test("a duplicate's offset comes from the last 5 remembered sequences, else the last offset")
    func duplicateOffsetWindow() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(.initProducerID(producerID: nil))
        let ten = (0..<10).map { "v\($0)" }
        #expect(
            try client.call(Self.batch(ten, producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 10, duplicate: false)
        )
        // Sequences 5…9 are remembered (offsets 5…9); sequence 0 is not, so the last offset (9) is reported.
        #expect(
            try client.call(Self.batch(ten, producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 9, partition: 0, recordCount: 10, duplicate: true)
        )
        #expect(
            try client.call(Self.batch(["v7", "v8"], producer: 1, sequence: 7))
                == .idempotentPublishedBatch(baseOffset: 7, partition: 0, recordCount: 2, duplicate: true)
        )
        // A batch that starts at a seen sequence is a duplicate as a whole, even if it reaches past it.
        #expect(
            try client.call(Self.batch(["v9", "v10"], producer: 1, sequence: 9))
                == .idempotentPublishedBatch(baseOffset: 9, partition: 0, recordCount: 2, duplicate: true)
        )
        #expect(server.records(topic: "t", partition: 0).count == 10)
    }

    @Test("reply lost after storing (connection dropped): the retry with the same base_sequence is a duplicate")
    func lostReplyRetry() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let setup = try RivvenServerTestSupport.connect(port)
        _ = try setup.call(.createTopic(name: "t", partitions: 1))
        _ = try setup.call(.initProducerID(producerID: nil))
        server.faults.dropConnection(every: 1, at: .afterHandlingBeforeReply, kinds: ["IdempotentPublishBatch"])
        let producer = try RivvenServerTestSupport.connect(port)
        let request = Self.batch(["p", "q"], producer: 1, sequence: 0)
        #expect(throws: RivvenTestClientError.closed) { try producer.call(request) }
        #expect(server.records(topic: "t", partition: 0).count == 2)
        server.faults.stopDroppingConnections()
        let retry = try RivvenServerTestSupport.connect(port)
        #expect(
            try retry.call(request)
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 2, duplicate: true)
        )
        #expect(server.records(topic: "t", partition: 0).count == 2)
        #expect(server.statistics.connectionsDroppedByFault == 1)
    }

    @Test("after the broker forgets its producers (restart), a known id is UNKNOWN_PRODUCER_ID")
    func forgetProducers() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        _ = try client.call(.initProducerID(producerID: nil))
        #expect(
            try client.call(Self.batch(["a"], producer: 1, sequence: 0))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 1, duplicate: false)
        )
        server.forgetProducers()
        #expect(
            try client.call(Self.batch(["b"], producer: 1, sequence: 1))
                == .error(message: "UNKNOWN_PRODUCER_ID: producer 1 not initialized")
        )
        #expect(
            try client.call(.initProducerID(producerID: nil)) == .producerIDInitialized(producerID: 1, producerEpoch: 0)
        )
    }

    @Test("an empty IdempotentPublishBatch is answered {0, 0, 0, false} without checks")
    func emptyBatch() throws {
        let (server, port) = try RivvenServerTestSupport.startServer()
        defer { server.stop() }
        let client = try RivvenServerTestSupport.connect(port)
        #expect(
            try client.call(Self.batch([], topic: "bad/name", producer: 42, sequence: 7))
                == .idempotentPublishedBatch(baseOffset: 0, partition: 0, recordCount: 0, duplicate: false)
        )
        #expect(server.topicNames().isEmpty)
    }
}
