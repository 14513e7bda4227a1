import FastIngest
import Foundation
import Testing

/// Where the shared Rivven material is: `<repository>/../shared/rivven`, found from this file's path, else
/// `/work/shared/rivven`.
enum RivvenShared {
    static let directory: String? = {
        // …/Tests/FastIngestTests/Rivven/RivvenTestSupport.swift → the repository root is four levels up.
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { root.deleteLastPathComponent() }
        let candidates = [
            root.deletingLastPathComponent().appendingPathComponent("shared/rivven").path,
            "/work/shared/rivven",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/fixtures/INDEX.json") }
    }()

    static var fixturesDirectory: String? { directory.map { $0 + "/fixtures" } }
    static var wirePath: String? { directory.map { $0 + "/WIRE.md" } }
}

/// A JSON value in the shape the fixture sidecars use: integers as decimal text, bytes as `{"hex", "utf8"?}`.
indirect enum JSONValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Converts what `JSONSerialization` returns.
    init(foundation value: Any) {
        switch value {
        case is NSNull:
            self = .null
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": self = .bool(number.boolValue)
            case "Q": self = .number(String(number.uint64Value))
            default: self = .number(String(number.int64Value))
            }
        case let string as String:
            self = .string(string)
        case let array as [Any]:
            self = .array(array.map(JSONValue.init(foundation:)))
        case let object as [String: Any]:
            self = .object(object.mapValues(JSONValue.init(foundation:)))
        default:
            self = .string("<unexpected \(type(of: value))>")
        }
    }

    static func parse(_ data: Data) throws -> JSONValue {
        JSONValue(foundation: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    static func int(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }

    /// Bytes as the sidecars write them: hex, plus the text when the bytes are valid UTF-8.
    static func bytes(_ value: [UInt8]) -> JSONValue {
        var object: [String: JSONValue] = ["hex": .string(hex(value))]
        if let text = String(validating: value, as: UTF8.self) { object["utf8"] = .string(text) }
        return .object(object)
    }

    static func optional<T>(_ value: T?, _ transform: (T) -> JSONValue) -> JSONValue {
        value.map(transform) ?? .null
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    var integerValue: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }

    var unsignedValue: UInt64? {
        if case .number(let text) = self { return UInt64(text) }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    var isNull: Bool { self == .null }

    /// The bytes of a `{"hex": …}` object.
    var bytesValue: [UInt8]? {
        guard let text = self["hex"]?.stringValue else { return nil }
        return unhex(text)
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .number(let text): text
        case .string(let text): "\"\(text)\""
        case .array(let array): "[" + array.map(\.description).joined(separator: ", ") + "]"
        case .object(let object):
            "{" + object.keys.sorted().map { "\"\($0)\": \(object[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

func unhex(_ text: String) -> [UInt8]? {
    let characters = Array(text.utf8).filter { $0 != 0x20 && $0 != 0x0A }
    guard characters.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
    var bytes: [UInt8] = []
    var index = 0
    while index < characters.count {
        guard let high = nibble(characters[index]), let low = nibble(characters[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}

/// One captured (or reference-encoded) frame and its sidecar.
struct RivvenFixture: Sendable, CustomTestStringConvertible {
    /// The `.hex` file name.
    var name: String
    /// The whole frame.
    var frame: [UInt8]
    /// The `.json` sidecar.
    var sidecar: JSONValue

    var testDescription: String { name }
    var isClientToServer: Bool { name.contains("_c2s_") }
    var variant: String { sidecar["variant"]?.stringValue ?? "?" }
    var fields: JSONValue { sidecar["fields"] ?? .null }
    var args: JSONValue { sidecar["args"] ?? .null }
    var step: String { sidecar["step"]?.stringValue ?? "" }
    var call: String { sidecar["call"]?.stringValue ?? "" }
    var isGolden: Bool { sidecar["golden"]?.boolValue == true }
    var correlationID: UInt32? { sidecar["correlation_id"]?.unsignedValue.map { UInt32($0) } }
    /// The payload (after the 9-byte header).
    var payload: [UInt8] { Array(frame.dropFirst(RivvenFrame.headerLength)) }

    /// Every `.hex` file of the fixture directory, sorted by name; empty when the directory is missing.
    static let fileNames: [String] = {
        guard let directory = RivvenShared.fixturesDirectory,
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
        else { return [] }
        return names.filter { $0.hasSuffix(".hex") }.sorted()
    }()

    /// Test arguments: the file names, or a marker that makes the test fail when the directory is missing.
    static let testArguments: [String] = fileNames.isEmpty ? ["<fixtures not found>"] : fileNames

    /// Loads a fixture and its sidecar.
    static func load(_ name: String) throws -> RivvenFixture {
        let directory = try #require(RivvenShared.fixturesDirectory, "fixture directory not found")
        let hexText = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
        let frame = try #require(unhex(hexText.trimmingCharacters(in: .whitespacesAndNewlines)), "bad hex in \(name)")
        let sidecarPath = directory + "/" + name.replacingOccurrences(of: ".hex", with: ".json")
        let sidecar = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: sidecarPath)))
        return RivvenFixture(name: name, frame: frame, sidecar: sidecar)
    }

    /// Every fixture, in file order.
    static func all() throws -> [RivvenFixture] {
        try fileNames.map(load)
    }
}

// MARK: - Values ↔ sidecar fields

/// A request's fields in the sidecar's shape (Rust field names).
func sidecarFields(_ request: RivvenRequest) -> JSONValue {
    func records(_ records: [RivvenBatchRecord]) -> JSONValue {
        .array(records.map { .object(["key": .optional($0.key, JSONValue.bytes), "value": .bytes($0.value)]) })
    }
    switch request {
    case .authenticate(let username, let password, let requireTLS):
        return .object(["username": .string(username), "password": .string(password), "require_tls": .bool(requireTLS)])
    case .saslAuthenticate(let mechanism, let authBytes):
        return .object(["mechanism": .bytes(mechanism), "auth_bytes": .bytes(authBytes)])
    case .scramClientFirst(let message), .scramClientFinal(let message):
        return .object(["message": .bytes(message)])
    case .publish(let topic, let partition, let key, let value, let leaderEpoch):
        return .object([
            "topic": .string(topic), "partition": .optional(partition, JSONValue.int),
            "key": .optional(key, JSONValue.bytes), "value": .bytes(value),
            "leader_epoch": .optional(leaderEpoch, JSONValue.int),
        ])
    case .consume(let topic, let partition, let offset, let maxMessages, let isolationLevel, let maxWaitMs):
        return .object([
            "topic": .string(topic), "partition": .int(partition), "offset": .int(offset),
            "max_messages": .int(maxMessages), "isolation_level": .optional(isolationLevel, JSONValue.int),
            "max_wait_ms": .optional(maxWaitMs, JSONValue.int),
        ])
    case .createTopic(let name, let partitions):
        return .object(["name": .string(name), "partitions": .optional(partitions, JSONValue.int)])
    case .listTopics, .ping:
        return .object([:])
    case .commitOffset(let consumerGroup, let topic, let partition, let offset):
        return .object([
            "consumer_group": .string(consumerGroup), "topic": .string(topic), "partition": .int(partition),
            "offset": .int(offset),
        ])
    case .getOffset(let consumerGroup, let topic, let partition):
        return .object([
            "consumer_group": .string(consumerGroup), "topic": .string(topic), "partition": .int(partition),
        ])
    case .getMetadata(let topic):
        return .object(["topic": .string(topic)])
    case .getOffsetBounds(let topic, let partition):
        return .object(["topic": .string(topic), "partition": .int(partition)])
    case .getOffsetForTimestamp(let topic, let partition, let timestampMs):
        return .object(["topic": .string(topic), "partition": .int(partition), "timestamp_ms": .int(timestampMs)])
    case .initProducerID(let producerID):
        return .object(["producer_id": .optional(producerID, JSONValue.int)])
    case .idempotentPublish(let topic, let partition, let key, let value, let id, let epoch, let sequence, let leader):
        return .object([
            "topic": .string(topic), "partition": .optional(partition, JSONValue.int),
            "key": .optional(key, JSONValue.bytes), "value": .bytes(value), "producer_id": .int(id),
            "producer_epoch": .int(epoch), "sequence": .int(sequence), "leader_epoch": .optional(leader, JSONValue.int),
        ])
    case .handshake(let protocolVersion, let clientID):
        return .object(["protocol_version": .int(protocolVersion), "client_id": .string(clientID)])
    case .publishBatch(let topic, let partition, let batch, let leaderEpoch):
        return .object([
            "topic": .string(topic), "partition": .optional(partition, JSONValue.int), "records": records(batch),
            "leader_epoch": .optional(leaderEpoch, JSONValue.int),
        ])
    case .idempotentPublishBatch(let topic, let partition, let batch, let idempotence, let leaderEpoch):
        return .object([
            "topic": .string(topic), "partition": .optional(partition, JSONValue.int), "records": records(batch),
            "producer_id": .int(idempotence.producerID), "producer_epoch": .int(idempotence.producerEpoch),
            "base_sequence": .int(idempotence.baseSequence), "leader_epoch": .optional(leaderEpoch, JSONValue.int),
        ])
    }
}

/// A response's fields in the sidecar's shape (Rust field names; a header tuple is a two-element array).
func sidecarFields(_ response: RivvenResponse) -> JSONValue {
    switch response {
    case .authenticated(let sessionID, let expiresIn):
        return .object(["session_id": .string(sessionID), "expires_in": .int(expiresIn)])
    case .scramServerFirst(let message):
        return .object(["message": .bytes(message)])
    case .scramServerFinal(let message, let sessionID, let expiresIn):
        return .object([
            "message": .bytes(message), "session_id": .optional(sessionID, JSONValue.string),
            "expires_in": .optional(expiresIn, JSONValue.int),
        ])
    case .published(let offset, let partition):
        return .object(["offset": .int(offset), "partition": .int(partition)])
    case .messages(let messages):
        return .object([
            "messages": .array(
                messages.map { message in
                    .object([
                        "offset": .int(message.offset), "partition": .int(message.partition),
                        "key": .optional(message.key, JSONValue.bytes), "value": .bytes(message.value),
                        "timestamp": .int(message.timestamp),
                        "headers": .array(message.headers.map { .array([.string($0.name), .bytes($0.value)]) }),
                    ])
                }
            )
        ])
    case .topicCreated(let name, let partitions), .metadata(let name, let partitions):
        return .object(["name": .string(name), "partitions": .int(partitions)])
    case .topics(let topics):
        return .object(["topics": .array(topics.map(JSONValue.string))])
    case .offsetCommitted, .pong, .ok:
        return .object([:])
    case .offset(let offset), .offsetForTimestamp(let offset):
        return .object(["offset": .optional(offset, JSONValue.int)])
    case .offsetBounds(let earliest, let latest):
        return .object(["earliest": .int(earliest), "latest": .int(latest)])
    case .error(let message):
        return .object(["message": .string(message)])
    case .producerIDInitialized(let producerID, let producerEpoch):
        return .object(["producer_id": .int(producerID), "producer_epoch": .int(producerEpoch)])
    case .idempotentPublished(let offset, let partition, let duplicate):
        return .object(["offset": .int(offset), "partition": .int(partition), "duplicate": .bool(duplicate)])
    case .throttled(let throttleTimeMs, let quotaType, let entity):
        return .object([
            "throttle_time_ms": .int(throttleTimeMs), "quota_type": .string(quotaType), "entity": .string(entity),
        ])
    case .handshakeResult(let serverVersion, let compatible, let message):
        return .object([
            "server_version": .int(serverVersion), "compatible": .bool(compatible), "message": .string(message),
        ])
    case .publishedBatch(let baseOffset, let partition, let recordCount):
        return .object([
            "base_offset": .int(baseOffset), "partition": .int(partition), "record_count": .int(recordCount),
        ])
    case .idempotentPublishedBatch(let baseOffset, let partition, let recordCount, let duplicate):
        return .object([
            "base_offset": .int(baseOffset), "partition": .int(partition), "record_count": .int(recordCount),
            "duplicate": .bool(duplicate),
        ])
    }
}

/// Reads sidecar fields back into values, independently of the decoder (so the encoder can be checked alone).
struct SidecarFieldReader {
    var fields: JSONValue

    struct Missing: Error, CustomStringConvertible {
        var field: String
        var description: String { "sidecar field `\(field)` missing or of the wrong type" }
    }

    func value(_ key: String) throws -> JSONValue {
        guard let value = fields[key] else { throw Missing(field: key) }
        return value
    }
    func string(_ key: String) throws -> String {
        guard let value = try value(key).stringValue else { throw Missing(field: key) }
        return value
    }
    func unsigned<T: FixedWidthInteger>(_ key: String, as type: T.Type = T.self) throws -> T {
        guard let value = try value(key).unsignedValue, let exact = T(exactly: value) else { throw Missing(field: key) }
        return exact
    }
    func signed<T: FixedWidthInteger>(_ key: String, as type: T.Type = T.self) throws -> T {
        guard let value = try value(key).integerValue, let exact = T(exactly: value) else { throw Missing(field: key) }
        return exact
    }
    func bool(_ key: String) throws -> Bool {
        guard let value = try value(key).boolValue else { throw Missing(field: key) }
        return value
    }
    func bytes(_ key: String) throws -> [UInt8] {
        guard let value = try value(key).bytesValue else { throw Missing(field: key) }
        return value
    }
    func optional<T>(_ key: String, _ read: (String) throws -> T) throws -> T? {
        try value(key).isNull ? nil : try read(key)
    }
    func records(_ key: String) throws -> [RivvenBatchRecord] {
        guard let array = try value(key).arrayValue else { throw Missing(field: key) }
        return try array.map { element in
            let record = SidecarFieldReader(fields: element)
            return RivvenBatchRecord(key: try record.optional("key", record.bytes), value: try record.bytes("value"))
        }
    }
}

/// The request a sidecar describes, built from its variant name and fields without the decoder.
func requestFromSidecar(variant: String, fields: JSONValue) throws -> RivvenRequest {
    let f = SidecarFieldReader(fields: fields)
    switch variant {
    case "Authenticate":
        return .authenticate(
            username: try f.string("username"),
            password: try f.string("password"),
            requireTLS: try f.bool("require_tls")
        )
    case "SaslAuthenticate":
        return .saslAuthenticate(mechanism: try f.bytes("mechanism"), authBytes: try f.bytes("auth_bytes"))
    case "ScramClientFirst": return .scramClientFirst(message: try f.bytes("message"))
    case "ScramClientFinal": return .scramClientFinal(message: try f.bytes("message"))
    case "Publish":
        return .publish(
            topic: try f.string("topic"),
            partition: try f.optional("partition") { try f.unsigned($0) },
            key: try f.optional("key", f.bytes),
            value: try f.bytes("value"),
            leaderEpoch: try f.optional("leader_epoch") { try f.unsigned($0) }
        )
    case "Consume":
        return .consume(
            topic: try f.string("topic"),
            partition: try f.unsigned("partition"),
            offset: try f.unsigned("offset"),
            maxMessages: try f.unsigned("max_messages"),
            isolationLevel: try f.optional("isolation_level") { try f.unsigned($0) },
            maxWaitMs: try f.optional("max_wait_ms") { try f.unsigned($0) }
        )
    case "CreateTopic":
        return .createTopic(name: try f.string("name"), partitions: try f.optional("partitions") { try f.unsigned($0) })
    case "ListTopics": return .listTopics
    case "CommitOffset":
        return .commitOffset(
            consumerGroup: try f.string("consumer_group"),
            topic: try f.string("topic"),
            partition: try f.unsigned("partition"),
            offset: try f.unsigned("offset")
        )
    case "GetOffset":
        return .getOffset(
            consumerGroup: try f.string("consumer_group"),
            topic: try f.string("topic"),
            partition: try f.unsigned("partition")
        )
    case "GetMetadata": return .getMetadata(topic: try f.string("topic"))
    case "Ping": return .ping
    case "GetOffsetBounds":
        return .getOffsetBounds(topic: try f.string("topic"), partition: try f.unsigned("partition"))
    case "GetOffsetForTimestamp":
        return .getOffsetForTimestamp(
            topic: try f.string("topic"),
            partition: try f.unsigned("partition"),
            timestampMs: try f.signed("timestamp_ms")
        )
    case "InitProducerId": return .initProducerID(producerID: try f.optional("producer_id") { try f.unsigned($0) })
    case "IdempotentPublish":
        return .idempotentPublish(
            topic: try f.string("topic"),
            partition: try f.optional("partition") { try f.unsigned($0) },
            key: try f.optional("key", f.bytes),
            value: try f.bytes("value"),
            producerID: try f.unsigned("producer_id"),
            producerEpoch: try f.unsigned("producer_epoch"),
            sequence: try f.signed("sequence"),
            leaderEpoch: try f.optional("leader_epoch") { try f.unsigned($0) }
        )
    case "Handshake":
        return .handshake(protocolVersion: try f.unsigned("protocol_version"), clientID: try f.string("client_id"))
    case "PublishBatch":
        return .publishBatch(
            topic: try f.string("topic"),
            partition: try f.optional("partition") { try f.unsigned($0) },
            records: try f.records("records"),
            leaderEpoch: try f.optional("leader_epoch") { try f.unsigned($0) }
        )
    case "IdempotentPublishBatch":
        return .idempotentPublishBatch(
            topic: try f.string("topic"),
            partition: try f.optional("partition") { try f.unsigned($0) },
            records: try f.records("records"),
            idempotence: RivvenIdempotence(
                producerID: try f.unsigned("producer_id"),
                producerEpoch: try f.unsigned("producer_epoch"),
                baseSequence: try f.signed("base_sequence")
            ),
            leaderEpoch: try f.optional("leader_epoch") { try f.unsigned($0) }
        )
    default:
        throw SidecarFieldReader.Missing(field: "variant \(variant)")
    }
}

/// The response a sidecar describes, built from its variant name and fields without the decoder.
func responseFromSidecar(variant: String, fields: JSONValue) throws -> RivvenResponse {
    let f = SidecarFieldReader(fields: fields)
    switch variant {
    case "Authenticated":
        return .authenticated(sessionID: try f.string("session_id"), expiresIn: try f.unsigned("expires_in"))
    case "ScramServerFirst": return .scramServerFirst(message: try f.bytes("message"))
    case "ScramServerFinal":
        return .scramServerFinal(
            message: try f.bytes("message"),
            sessionID: try f.optional("session_id", f.string),
            expiresIn: try f.optional("expires_in") { try f.unsigned($0) }
        )
    case "Published": return .published(offset: try f.unsigned("offset"), partition: try f.unsigned("partition"))
    case "Messages":
        guard let array = try f.value("messages").arrayValue else {
            throw SidecarFieldReader.Missing(field: "messages")
        }
        return .messages(
            try array.map { element in
                let m = SidecarFieldReader(fields: element)
                guard let headers = try m.value("headers").arrayValue else {
                    throw SidecarFieldReader.Missing(field: "headers")
                }
                return RivvenMessage(
                    offset: try m.unsigned("offset"),
                    partition: try m.unsigned("partition"),
                    key: try m.optional("key", m.bytes),
                    value: try m.bytes("value"),
                    timestamp: try m.signed("timestamp"),
                    headers: try headers.map { header in
                        guard let pair = header.arrayValue, pair.count == 2, let name = pair[0].stringValue,
                            let value = pair[1].bytesValue
                        else { throw SidecarFieldReader.Missing(field: "header") }
                        return RivvenMessage.Header(name: name, value: value)
                    }
                )
            }
        )
    case "TopicCreated": return .topicCreated(name: try f.string("name"), partitions: try f.unsigned("partitions"))
    case "Topics":
        guard let array = try f.value("topics").arrayValue else { throw SidecarFieldReader.Missing(field: "topics") }
        return .topics(array.compactMap(\.stringValue))
    case "OffsetCommitted": return .offsetCommitted
    case "Offset": return .offset(try f.optional("offset") { try f.unsigned($0) })
    case "Metadata": return .metadata(name: try f.string("name"), partitions: try f.unsigned("partitions"))
    case "Pong": return .pong
    case "OffsetBounds": return .offsetBounds(earliest: try f.unsigned("earliest"), latest: try f.unsigned("latest"))
    case "OffsetForTimestamp": return .offsetForTimestamp(try f.optional("offset") { try f.unsigned($0) })
    case "Error": return .error(message: try f.string("message"))
    case "Ok": return .ok
    case "ProducerIdInitialized":
        return .producerIDInitialized(
            producerID: try f.unsigned("producer_id"),
            producerEpoch: try f.unsigned("producer_epoch")
        )
    case "IdempotentPublished":
        return .idempotentPublished(
            offset: try f.unsigned("offset"),
            partition: try f.unsigned("partition"),
            duplicate: try f.bool("duplicate")
        )
    case "Throttled":
        return .throttled(
            throttleTimeMs: try f.unsigned("throttle_time_ms"),
            quotaType: try f.string("quota_type"),
            entity: try f.string("entity")
        )
    case "HandshakeResult":
        return .handshakeResult(
            serverVersion: try f.unsigned("server_version"),
            compatible: try f.bool("compatible"),
            message: try f.string("message")
        )
    case "PublishedBatch":
        return .publishedBatch(
            baseOffset: try f.unsigned("base_offset"),
            partition: try f.unsigned("partition"),
            recordCount: try f.unsigned("record_count")
        )
    case "IdempotentPublishedBatch":
        return .idempotentPublishedBatch(
            baseOffset: try f.unsigned("base_offset"),
            partition: try f.unsigned("partition"),
            recordCount: try f.unsigned("record_count"),
            duplicate: try f.bool("duplicate")
        )
    default:
        throw SidecarFieldReader.Missing(field: "variant \(variant)")
    }
}

extension RivvenRequest {
    /// The whole frame, for comparisons.
    func frame(correlationID: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        encode(correlationID: correlationID, into: &out)
        return out
    }
}

extension RivvenResponse {
    /// The whole frame, for comparisons.
    func frame(correlationID: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        encode(correlationID: correlationID, into: &out)
        return out
    }
}
