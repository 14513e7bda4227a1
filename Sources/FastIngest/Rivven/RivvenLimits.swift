/// Constants of the Rivven 0.0.22 native protocol and the broker's default limits (WIRE.md §5, §10).
public enum RivvenLimits {
    /// The protocol version a client sends in `Handshake` and `rivvend` 0.0.22 answers with.
    public static let protocolVersion: UInt32 = 2

    /// The largest frame length prefix `L` the broker accepts (`--max-request-size`, 10 MiB). A larger request is
    /// answered `Error{"MESSAGE_TOO_LARGE: …"}` and the connection is closed.
    public static let maxRequestFrameLength = 10 * 1024 * 1024

    /// The largest response frame length prefix `L` the official client accepts (100 MiB).
    public static let maxResponseFrameLength = 100 * 1024 * 1024

    /// The longest name in bytes of UTF-8 (topic, group, client id, user name, SASL mechanism, …).
    public static let maxNameLength = 256

    /// The most entries a list field may have (`records`, `topics`, …).
    public static let maxListLength = 10_000

    /// The longest SCRAM/SASL message or password, in bytes.
    public static let maxAuthPayloadLength = 64 * 1024

    /// The most messages one `Messages` response may carry (the client's check).
    public static let maxMessagesPerResponse = 100_000
}
