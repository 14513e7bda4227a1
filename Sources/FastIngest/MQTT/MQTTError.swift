/// An MQTT-side failure: what went wrong (`code`) and a sentence saying why and what to do.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, opaque so new kinds can be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case configuration, connect, connectionRefused, tls, subscribe, subscriptionRefused, gaveUp, timeout
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The client could not be configured from the given options.
        public static let configuration = Code(.configuration)
        /// The TCP connection could not be opened or was lost before CONNACK.
        public static let connect = Code(.connect)
        /// The broker answered CONNACK with a refusal (bad credentials, not authorised, …).
        public static let connectionRefused = Code(.connectionRefused)
        /// The TLS handshake or certificate verification failed.
        public static let tls = Code(.tls)
        /// A SUBSCRIBE could not be sent.
        public static let subscribe = Code(.subscribe)
        /// The broker refused a subscription (SUBACK 0x80 or an MQTT 5 failure reason).
        public static let subscriptionRefused = Code(.subscriptionRefused)
        /// `max_reconnect_attempts` failed attempts in a row.
        public static let gaveUp = Code(.gaveUp)
        /// No CONNACK / SUBACK within the configured time.
        public static let timeout = Code(.timeout)

        public var description: String { kind.rawValue }
    }

    /// What failed.
    public var code: Code
    /// Why, in words, with the remedy where there is one.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
