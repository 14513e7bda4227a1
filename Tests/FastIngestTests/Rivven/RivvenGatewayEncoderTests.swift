import FastIngest
import Foundation
import Testing

/// The requests the gateway sends, built from what the captured calls were given (the sidecars' `args`) through the
/// gateway-facing encoders (``RivvenRequest/encode(correlationID:into:)``, ``RivvenRequest/encodePublish``,
/// ``RivvenBatchEncoder``), must be the bytes the real client sent.
@Suite("Rivven gateway encoders")
struct RivvenGatewayEncoderTests {
    /// Variants the gateway sends; each fixture of these must be reproduced from its arguments.
    static let productVariants: Set<String> = [
        "Handshake", "Ping", "CreateTopic", "GetMetadata", "ListTopics", "Publish", "PublishBatch", "InitProducerId",
        "IdempotentPublish", "IdempotentPublishBatch", "ScramClientFirst", "ScramClientFinal", "Authenticate",
    ]

    /// Walks the fixtures in capture order, keeping what a producer would know (its topic, partition counts from
    /// `Metadata`, the producer id), and rebuilds every product request.
    @Test("every request the product sends is rebuilt from the call's arguments")
    func requestsFromArguments() throws {
        let fixtures = try RivvenFixture.all()
        try #require(!fixtures.isEmpty, "no fixtures")
        var producerTopic: String?
        var partitionsByTopic: [String: UInt32] = [:]
        var producer: (id: UInt64, epoch: UInt16)?
        var sequence: Int32 = 0
        var batchCursors: [String: Int] = [:]  // "step/partition" → records of that partition already sent
        var reproduced: [String] = []

        for fixture in fixtures {
            let args = fixture.args
            let correlationID = try #require(fixture.correlationID)
            if fixture.call == "client.producer", let topic = args["topic"]?.stringValue { producerTopic = topic }
            if !fixture.isClientToServer {
                switch try RivvenResponse.decodeFrame(fixture.frame).response {
                case .metadata(let name, let partitions): partitionsByTopic[name] = partitions
                case .producerIDInitialized(let id, let epoch):
                    producer = (id, epoch)
                    sequence = 0
                default: break
                }
                continue
            }
            guard Self.productVariants.contains(fixture.variant) else { continue }

            var out: [UInt8] = []
            switch fixture.variant {
            case "Handshake":
                RivvenRequest.handshake(protocolVersion: RivvenLimits.protocolVersion, clientID: "rivven-client")
                    .encode(correlationID: correlationID, into: &out)
            case "Ping":
                RivvenRequest.ping.encode(correlationID: correlationID, into: &out)
            case "ListTopics":
                RivvenRequest.listTopics.encode(correlationID: correlationID, into: &out)
            case "CreateTopic":
                let name = try #require(args["name"]?.stringValue)
                let partitions = args["partitions"]?.unsignedValue.map { UInt32($0) }
                RivvenRequest.createTopic(name: name, partitions: partitions).encode(
                    correlationID: correlationID,
                    into: &out
                )
            case "GetMetadata":
                let topic = try #require(args["name"]?.stringValue ?? producerTopic)
                RivvenRequest.getMetadata(topic: topic).encode(correlationID: correlationID, into: &out)
            case "Publish":
                let topic = try #require(args["topic"]?.stringValue)
                let value = try #require(args["value"]?.bytesValue)
                let key = args["key"]?.bytesValue
                value.withUnsafeBytes { value in
                    func encode(_ key: UnsafeRawBufferPointer?) {
                        RivvenRequest.encodePublish(
                            correlationID: correlationID,
                            topic: topic,
                            partition: nil,
                            key: key,
                            value: value,
                            into: &out
                        )
                    }
                    if let key { key.withUnsafeBytes { encode($0) } } else { encode(nil) }
                }
            case "PublishBatch":
                let topic = try #require(producerTopic)
                // The call's records: `send(value, key?, partition?)` or `send_batch([[value, key?], …])`.
                var records: [(key: [UInt8]?, value: [UInt8])] = []
                if let messages = args["messages"]?.arrayValue {
                    for message in messages {
                        let pair = try #require(message.arrayValue)
                        records.append((pair[1].bytesValue, try #require(pair[0].bytesValue)))
                    }
                } else {
                    records.append((args["key"]?.bytesValue, try #require(args["value"]?.bytesValue)))
                }
                // The producer's partition choice: explicit, else murmur2 of the key, else the only partition.
                let count = try #require(partitionsByTopic[topic], "no Metadata seen for \(topic)")
                func partition(of record: (key: [UInt8]?, value: [UInt8])) -> UInt32? {
                    if let explicit = args["partition"]?.unsignedValue { return UInt32(explicit) }
                    if let key = record.key { return RivvenPartitioner.partition(forKey: key, partitionCount: count) }
                    return count == 1 ? 0 : nil
                }
                // How many records went into this frame is the producer's timing (linger), taken from the frame;
                // which ones and in which order follows from the arguments.
                guard
                    case .publishBatch(_, let sentPartition?, let sent, _) = try RivvenRequest.decodeFrame(
                        fixture.frame
                    ).request
                else { Issue.record("\(fixture.name): not a PublishBatch with a partition"); continue }
                let group = records.filter { partition(of: $0) == sentPartition }
                let cursorKey = "\(fixture.step)/\(sentPartition)"
                let start = batchCursors[cursorKey, default: 0]
                try #require(
                    start + sent.count <= group.count,
                    "\(fixture.name): more records than the call had for p\(sentPartition)"
                )
                let run = group[start..<(start + sent.count)]
                batchCursors[cursorKey] = start + sent.count
                RivvenBatchEncoder.encode(
                    correlationID: correlationID,
                    topic: topic,
                    partition: sentPartition,
                    expectedRecordCount: run.count,
                    into: &out
                ) { append in
                    for record in run {
                        record.value.withUnsafeBytes { value in
                            if let key = record.key {
                                key.withUnsafeBytes { append($0, value) }
                            } else {
                                append(nil, value)
                            }
                        }
                    }
                }
            case "InitProducerId":
                let previous = args["previous_producer_id"]?.unsignedValue
                RivvenRequest.initProducerID(producerID: previous).encode(correlationID: correlationID, into: &out)
            case "IdempotentPublish":
                let (id, epoch) = try #require(producer, "no ProducerIdInitialized before \(fixture.name)")
                RivvenRequest.idempotentPublish(
                    topic: try #require(args["topic"]?.stringValue),
                    partition: nil,
                    key: args["key"]?.bytesValue,
                    value: try #require(args["value"]?.bytesValue),
                    producerID: id,
                    producerEpoch: epoch,
                    sequence: sequence,
                    leaderEpoch: nil
                ).encode(correlationID: correlationID, into: &out)
                sequence += 1
            case "IdempotentPublishBatch":
                // Reference-encoded (S01): no call arguments; the fields are the arguments.
                let f = SidecarFieldReader(fields: fixture.fields)
                let records = try f.records("records")
                var mark = RivvenBatchEncoder.begin(
                    correlationID: correlationID,
                    topic: try f.string("topic"),
                    partition: try f.optional("partition") { try f.unsigned($0) },
                    expectedRecordCount: records.count,
                    idempotence: RivvenIdempotence(
                        producerID: try f.unsigned("producer_id"),
                        producerEpoch: try f.unsigned("producer_epoch"),
                        baseSequence: try f.signed("base_sequence")
                    ),
                    into: &out
                )
                for record in records {
                    RivvenBatchEncoder.appendRecord(key: record.key, value: record.value, to: &mark, into: &out)
                }
                RivvenBatchEncoder.finish(mark, into: &out)
            case "ScramClientFirst":
                // The nonce is random; the rest is the user name from the arguments.
                let message = try #require(fixture.fields["message"]?["utf8"]?.stringValue)
                let nonce = try #require(message.components(separatedBy: ",r=").last)
                let user = try #require(args["username"]?.stringValue)
                RivvenRequest.scramClientFirst(message: Array("n,,n=\(user),r=\(nonce)".utf8))
                    .encode(correlationID: correlationID, into: &out)
            case "ScramClientFinal", "Authenticate":
                // The proof depends on random nonces (SCRAM); S02 has no call. Rebuild from the fields.
                try requestFromSidecar(variant: fixture.variant, fields: fixture.fields)
                    .encode(correlationID: correlationID, into: &out)
            default:
                Issue.record("no rule for \(fixture.variant)")
            }
            #expect(hex(out) == hex(fixture.frame), "\(fixture.name)")
            reproduced.append(fixture.name)
        }

        let expected = fixtures.filter { $0.isClientToServer && Self.productVariants.contains($0.variant) }.map(\.name)
        #expect(reproduced == expected)
        // 7 Handshake, 1 Ping, 6 CreateTopic, 4 GetMetadata, 2 ListTopics, 5 Publish, 8 PublishBatch,
        // 3 InitProducerId, 2 IdempotentPublish, 2 SCRAM, S01 (IdempotentPublishBatch), S02 (Authenticate).
        #expect(expected.count == 42)
    }

    @Test("murmur2 partitions key-0…key-5 over 3 partitions as the official producer did")
    func murmur2() {
        let partitions = (0..<6).map { RivvenPartitioner.partition(forKey: Array("key-\($0)".utf8), partitionCount: 3) }
        #expect(partitions == [1, 0, 2, 2, 0, 2])
    }

    @Test("murmur2 of known inputs (Kafka's Utils.murmur2 values)")
    func murmur2Vectors() {
        // Values of Kafka's murmur2 for these inputs, as signed 32-bit results printed by the Java implementation.
        let vectors: [(String, Int32)] = [
            ("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            ("abc", 479470107),
        ]
        for (text, expected) in vectors {
            let hash = Array(text.utf8).withUnsafeBytes { RivvenPartitioner.murmur2($0) }
            #expect(Int32(bitPattern: hash) == expected, "\(text)")
        }
    }
}
