/// Computes the Rivven record key of an MQTT message as `key:` says (SPEC §3.1), into a caller-owned buffer.
///
/// Built once per source from its ``RecordKeySpec``:
///
/// | spec | key |
/// |---|---|
/// | `none` | no key |
/// | `topic` | the MQTT topic bytes |
/// | `json:FIELD` | the top-level member `FIELD` of a payload that is a JSON object (below) |
/// | `property:NAME` | the value (UTF-8 bytes) of the message's first MQTT 5 user property `NAME`; none without one |
///
/// For `json:FIELD` the payload is validated as serde_json would (`serde_json::from_slice::<Value>`) and searched
/// without building a tree:
/// - a string value gives its unescaped UTF-8 bytes (`\uXXXX` decoded, surrogate pairs combined);
/// - a number, `true` or `false` gives its JSON text exactly as written (`1.50`, `-3e2`);
/// - an object or array gives its compact serde_json text (``JSONCanonicalizer``: no whitespace, serde_json's number
///   and string forms, duplicate keys merged);
/// - `null`, a missing member, a payload that is not a JSON object, and invalid JSON give no key.
///
/// When the object has the member more than once, the last occurrence wins, as in a serde_json map. The member name
/// is compared after unescaping, so `"dev\u0069ce"` matches `json:device`.
///
/// Hot path: no Foundation, no `String`, and no allocation once `out` and the extractor's scratch storage (used only
/// for object and array values) are warm. The extractor is a value type with that scratch storage inside, so
/// ``appendKey(topic:payload:into:)`` is `mutating`; keep one per thread.
public struct RecordKeyExtractor: Sendable {
    /// The spec this extractor was built from.
    public let spec: RecordKeySpec

    /// The UTF-8 bytes of the `json:` member name or the `property:` user property name (empty for other specs).
    private let fieldName: [UInt8]
    /// Scratch storage for re-serialising object and array values.
    private var canonicalizer = JSONCanonicalizer()

    /// Creates an extractor for `spec`.
    public init(_ spec: RecordKeySpec) {
        self.spec = spec
        switch spec {
        case .jsonField(let name), .property(let name): self.fieldName = Array(name.utf8)
        case .none, .topic: self.fieldName = []
        }
    }

    /// Appends the key of a message on MQTT topic `topic` with payload `payload` and MQTT 5 properties `properties`
    /// (an ``MQTTPropertyBlock``, empty when it has none) to `out` and returns true, or appends nothing and returns
    /// false when the message has no key.
    public mutating func appendKey(
        topic: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        properties: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        into out: inout [UInt8]
    ) -> Bool {
        switch spec {
        case .none:
            return false
        case .topic:
            out.append(contentsOf: topic)
            return true
        case .jsonField:
            return appendJSONField(payload, into: &out)
        case .property:
            let value = fieldName.withUnsafeBytes { name in
                MQTTPropertyBlock.firstUserProperty(named: name, in: properties)
            }
            guard let value else { return false }
            out.append(contentsOf: value)
            return true
        }
    }

    private mutating func appendJSONField(_ payload: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        let lookup = fieldName.withUnsafeBytes { name in
            JSONMemberScanner.findMember(name, in: payload)
        }
        guard case .found(let value) = lookup else { return false }
        switch value.kind {
        case .null:
            return false
        case .string:
            JSONMemberScanner.appendUnescaped(value.stringContent, in: payload, to: &out)
            return true
        case .number, .boolean:
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[value.range]))
            return true
        case .object, .array:
            // The whole document was validated, so the nested value is a valid document by itself.
            return canonicalizer.append(UnsafeRawBufferPointer(rebasing: payload[value.range]), to: &out)
        }
    }
}
