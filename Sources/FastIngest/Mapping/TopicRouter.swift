/// The outcome of ``TopicRouter/route(topic:into:)``.
public enum RoutingResult: Sendable, Equatable {
    /// The Rivven topic was appended to the output buffer.
    case routed
    /// No valid Rivven topic: a level the template needs is missing or empty, or the result breaks the Rivven
    /// topic-name rule. Nothing was appended.
    case invalid(reason: String)
}

/// Chooses the Rivven topic of each MQTT message: the source's static `topic`, or the `topic_routing` template
/// (SPEC §3.1) applied to the MQTT topic.
///
/// A template is literal text with placeholders:
/// - `{N}` (N ≥ 1): the N-th level of the MQTT topic (levels are separated by `/`), copied as is;
/// - `{topic}`: the whole MQTT topic with every `/` replaced by `.`.
///
/// For example `iot.{1}` routes `sensors/room1/temp` to `iot.sensors`, and `{topic}` routes it to
/// `sensors.room1.temp`. The result must be a valid Rivven topic name (WIRE.md §10:
/// `^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$`, no `..`); when it is not, or when a level the template needs is missing or
/// empty, routing fails with a reason and the caller dead-letters the message.
///
/// The template is parsed once. Routing is a single pass over the template and the MQTT topic with no allocation
/// (beyond growing `out` while it is cold); only a failure builds its reason `String`. There is deliberately no
/// cache of recent topics: looking one up would hash and compare the MQTT topic, which costs as much as routing it.
public struct TopicRouter: Sendable {
    /// The source's static Rivven topic (`topic:`): where every message goes when there is no template.
    public let staticTopic: String
    /// The `topic_routing` template, if any.
    public let template: String?

    private enum Segment: Sendable {
        case literal([UInt8])
        case level(Int)
        case wholeTopic
    }

    /// The parsed template; empty without one.
    private let segments: [Segment]
    private let staticTopicBytes: [UInt8]

    /// Creates a router for the static topic `staticTopic` and, optionally, a `topic_routing` template.
    ///
    /// - Throws: ``MappingError`` when `staticTopic` is not a valid Rivven topic name or `template` is malformed
    ///   (the checks configuration loading does).
    public init(staticTopic: String, template: String? = nil) throws(MappingError) {
        if let problem = RivvenTopicName.problem(staticTopic) {
            throw MappingError(.invalidTopicName, "topic `\(staticTopic)`: \(problem)")
        }
        self.staticTopic = staticTopic
        self.staticTopicBytes = Array(staticTopic.utf8)
        self.template = template
        if let template {
            if let problem = MQTTConfiguration.topicRoutingProblem(template) {
                throw MappingError(.invalidTemplate, "topic_routing `\(template)`: \(problem)")
            }
            self.segments = Self.parse(template)
        } else {
            self.segments = []
        }
    }

    /// Splits a validated template into literal runs and placeholders.
    private static func parse(_ template: String) -> [Segment] {
        let bytes = Array(template.utf8)
        var segments: [Segment] = []
        var literal: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "{") else {
                literal.append(bytes[index])
                index += 1
                continue
            }
            if !literal.isEmpty {
                segments.append(.literal(literal))
                literal = []
            }
            // The template was validated: a matching `}` follows, with `topic` or a positive number before it.
            let close = bytes[index...].firstIndex(of: UInt8(ascii: "}"))!
            let name = bytes[(index + 1)..<close]
            if name.elementsEqual("topic".utf8) {
                segments.append(.wholeTopic)
            } else {
                segments.append(.level(Int(String(decoding: name, as: UTF8.self))!))
            }
            index = close + 1
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        return segments
    }

    /// Appends the Rivven topic for a message on MQTT topic `topic` (its UTF-8 bytes) to `out`.
    ///
    /// - Returns: ``RoutingResult/routed``, or ``RoutingResult/invalid(reason:)`` with `out` unchanged.
    public func route(topic: UnsafeRawBufferPointer, into out: inout [UInt8]) -> RoutingResult {
        guard !segments.isEmpty else {
            out.append(contentsOf: staticTopicBytes)
            return .routed
        }
        // First pass: the length of the result, and every level the template needs.
        var length = 0
        for segment in segments {
            switch segment {
            case .literal(let bytes):
                length += bytes.count
            case .level(let number):
                guard let range = Self.level(number, of: topic) else {
                    return .invalid(reason: missingLevelReason(number, topic: topic))
                }
                guard !range.isEmpty else {
                    return .invalid(reason: emptyLevelReason(number, topic: topic))
                }
                length += range.count
            case .wholeTopic:
                length += topic.count
            }
        }
        guard length <= RivvenTopicName.maximumLength else {
            return .invalid(reason: tooLongReason(length, topic: topic))
        }
        // Second pass: write it, then check the name rule on the bytes written.
        let start = out.count
        out.appendWithin(maxCount: length) { writer in
            for segment in segments {
                switch segment {
                case .literal(let bytes):
                    writer.put(bytes)
                case .level(let number):
                    let range = Self.level(number, of: topic)!
                    writer.put(topic, from: range.lowerBound, to: range.upperBound)
                case .wholeTopic:
                    for byte in topic {
                        writer.put(byte == UInt8(ascii: "/") ? UInt8(ascii: ".") : byte)
                    }
                }
            }
        }
        let valid = out.withUnsafeBytes { bytes in
            Self.isValidRivvenTopic(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
        guard valid else {
            let routed = String(decoding: out[start...], as: UTF8.self)
            out.removeSubrange(start...)
            return .invalid(reason: invalidNameReason(routed, topic: topic))
        }
        return .routed
    }

    /// The byte range of the `number`-th level (1-based) of `topic`, or nil when it has fewer levels.
    static func level(_ number: Int, of topic: UnsafeRawBufferPointer) -> Range<Int>? {
        var levelStart = 0
        var current = 1
        var index = 0
        let count = topic.count
        while index < count {
            if topic[index] == UInt8(ascii: "/") {
                if current == number { return levelStart..<index }
                current += 1
                levelStart = index + 1
            }
            index += 1
        }
        return current == number ? levelStart..<count : nil
    }

    /// The Rivven broker's topic-name check (WIRE.md §10) on bytes: 1…255 of `[a-zA-Z0-9._-]`, starting with a
    /// letter or digit, without `..`.
    static func isValidRivvenTopic(_ name: UnsafeRawBufferPointer) -> Bool {
        guard !name.isEmpty, name.count <= RivvenTopicName.maximumLength else { return false }
        var previousWasDot = false
        for (index, byte) in name.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                previousWasDot = false
            case UInt8(ascii: "."):
                if index == 0 || previousWasDot { return false }
                previousWasDot = true
            case UInt8(ascii: "_"), UInt8(ascii: "-"):
                if index == 0 { return false }
                previousWasDot = false
            default:
                return false
            }
        }
        return true
    }

    // MARK: - Reasons (the rare path: these build Strings)

    /// The longest part of an MQTT topic shown in a reason.
    private static let shownTopicBytes = 200

    private static func show(_ topic: UnsafeRawBufferPointer) -> String {
        if topic.count <= shownTopicBytes {
            return "`" + String(decoding: topic, as: UTF8.self) + "`"
        }
        let head = String(decoding: UnsafeRawBufferPointer(rebasing: topic[0..<shownTopicBytes]), as: UTF8.self)
        return "`\(head)…` (\(topic.count) bytes)"
    }

    private var shownTemplate: String { "topic_routing `\(template ?? "")`" }

    private func missingLevelReason(_ number: Int, topic: UnsafeRawBufferPointer) -> String {
        var levels = 1
        for byte in topic where byte == UInt8(ascii: "/") { levels += 1 }
        let has = levels == 1 ? "1 level" : "\(levels) levels"
        return "\(shownTemplate) needs level \(number) of the MQTT topic, but \(Self.show(topic)) has \(has)"
    }

    private func emptyLevelReason(_ number: Int, topic: UnsafeRawBufferPointer) -> String {
        "\(shownTemplate) needs level \(number) of the MQTT topic, but it is empty in \(Self.show(topic))"
    }

    private func tooLongReason(_ length: Int, topic: UnsafeRawBufferPointer) -> String {
        "\(shownTemplate) gives a Rivven topic of \(length) characters for MQTT topic \(Self.show(topic)); "
            + "a Rivven topic name is at most \(RivvenTopicName.maximumLength) characters"
    }

    private func invalidNameReason(_ routed: String, topic: UnsafeRawBufferPointer) -> String {
        let problem = RivvenTopicName.problem(routed) ?? "it is not a valid Rivven topic name"
        return "\(shownTemplate) gives `\(routed)` for MQTT topic \(Self.show(topic)): \(problem)"
    }
}
