/// MQTT quality-of-service level (`qos:`).
///
/// The YAML accepts `at_most_once` | `at_least_once` | `exactly_once` and also `0` | `1` | `2`.
public enum MQTTQoS: UInt8, Sendable, Equatable {
    /// QoS 0: fire and forget.
    case atMostOnce = 0
    /// QoS 1: acknowledged delivery (PUBACK).
    case atLeastOnce = 1
    /// QoS 2: assured delivery (PUBREC/PUBREL/PUBCOMP).
    case exactlyOnce = 2
}

/// MQTT protocol version (`mqtt_version:`).
///
/// The YAML accepts `v3` | `v311` | `v5` and also `3.1`, `3.1.1`, `5` (strings or numbers).
public enum MQTTProtocolVersion: String, Sendable, Equatable {
    /// MQTT 3.1 (protocol level 3).
    case v3
    /// MQTT 3.1.1 (protocol level 4).
    case v311
    /// MQTT 5.0 (protocol level 5).
    case v5
}

/// How each MQTT message becomes a Rivven record (`format:`).
public enum RecordFormat: String, Sendable, Equatable {
    /// The rivven-connect JSON envelope of Rivven's own mqtt-source.
    case envelope
    /// The record value is the payload bytes, unchanged.
    case raw
}

/// Where the Rivven record key comes from (`key:`).
public enum RecordKeySpec: Sendable, Equatable {
    /// No key (`none`).
    case none
    /// The MQTT topic name (`topic`).
    case topic
    /// A top-level field of a JSON payload (`json:FIELD`); a missing field gives no key.
    case jsonField(String)
    /// An MQTT 5 user property (`property:NAME`).
    case property(String)
}

/// What the ring buffer does when it is full (`buffer.when_full:`).
public enum WhenFull: String, Sendable, Equatable {
    /// Stop reading the socket: backpressure to the broker.
    case block
    /// Drop the oldest QoS 0 message (counted).
    case dropOldest = "drop_oldest"
    /// Drop the incoming QoS 0 message (counted).
    case dropNewest = "drop_newest"
}

/// When the local log is fsync'd (`log.fsync:`).
public enum FsyncPolicy: Sendable, Equatable {
    /// Group commit: one fsync per written batch (`batch`).
    case batch
    /// At most every `milliseconds` (`interval:MS`, MS in 1…60000).
    case interval(milliseconds: Int)
    /// Never fsync explicitly; the kernel decides (`never`).
    case never
}

/// A secret string, such as a password.
///
/// `description` and `debugDescription` print `***`, so a secret never reaches a log line or
/// `"\(configuration)"` by accident; `value` gives the real text to the code that needs it.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The real, unredacted text.
    public let value: String

    /// Wraps `value` as a secret.
    public init(_ value: String) {
        self.value = value
    }

    /// Always `***`.
    public var description: String { "***" }

    /// Always `***`.
    public var debugDescription: String { "***" }
}
