/// A record-mapping setting that cannot be used: a bad Rivven topic name or `topic_routing` template.
///
/// Configuration loading reports the same problems with their paths first, so this is only seen when a mapper is
/// built from settings that did not go through it.
public struct MappingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, opaque so new kinds can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case invalidTopicName = "invalid_topic_name"
            case invalidTemplate = "invalid_template"
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A static or dead-letter topic is not a valid Rivven topic name (WIRE.md §10).
        public static let invalidTopicName = Code(.invalidTopicName)
        /// The `topic_routing` template is malformed.
        public static let invalidTemplate = Code(.invalidTemplate)

        /// The code's name: `invalid_topic_name` or `invalid_template`.
        public var description: String { kind.rawValue }
    }

    /// What is wrong.
    public var code: Code
    /// The setting and the reason, in words.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Why a record cannot be published to its Rivven topic: it is dead-lettered or, without a dead-letter topic,
/// dropped from the forwarding (the local log keeps it).
public struct MappingProblem: Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem, for counting; opaque so new kinds can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case oversize
            case unroutable
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The payload is larger than `max_payload_bytes`.
        public static let oversize = Code(.oversize)
        /// `topic_routing` gives no valid Rivven topic for the MQTT topic.
        public static let unroutable = Code(.unroutable)

        /// The code's name: `oversize` or `unroutable` (fit for a metric label).
        public var description: String { kind.rawValue }
    }

    /// What kind of problem.
    public var code: Code
    /// The reason in words, written into the dead-letter record's `error` field.
    public var reason: String

    /// Creates a problem.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}
