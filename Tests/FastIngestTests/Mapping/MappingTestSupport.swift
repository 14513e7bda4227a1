import FastIngest
import Foundation
import Glibc
import Synchronization
import Testing

/// Helpers shared by the mapping tests.
enum MappingTestSupport {
    /// `extractor.appendKey` with `topic` and `payload`; nil when it reports no key. Also checks that existing bytes
    /// of the output stay and that "no key" appends nothing.
    static func key(
        _ extractor: inout RecordKeyExtractor,
        topic: String = "sensors/room1",
        payload: [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> [UInt8]? {
        var out: [UInt8] = Array("prefix".utf8)
        let topicBytes = Array(topic.utf8)
        let found = topicBytes.withUnsafeBytes { topicBuffer in
            payload.withUnsafeBytes { payloadBuffer in
                extractor.appendKey(topic: topicBuffer, payload: payloadBuffer, into: &out)
            }
        }
        #expect(Array(out.prefix(6)) == Array("prefix".utf8), "existing bytes changed", sourceLocation: sourceLocation)
        guard found else {
            #expect(out.count == 6, "bytes appended although there is no key", sourceLocation: sourceLocation)
            return nil
        }
        return Array(out.dropFirst(6))
    }

    /// `router.route` for `topic`: the Rivven topic, or the reason it failed. Checks that a failure appends nothing.
    static func route(
        _ router: TopicRouter,
        _ topic: [UInt8],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Result<String, RoutingFailure> {
        var out: [UInt8] = Array("xx".utf8)
        let result = topic.withUnsafeBytes { router.route(topic: $0, into: &out) }
        #expect(Array(out.prefix(2)) == Array("xx".utf8), "existing bytes changed", sourceLocation: sourceLocation)
        switch result {
        case .routed:
            return .success(String(decoding: out.dropFirst(2), as: UTF8.self))
        case .invalid(let reason):
            #expect(out.count == 2, "bytes appended although routing failed", sourceLocation: sourceLocation)
            return .failure(RoutingFailure(reason: reason))
        }
    }

    struct RoutingFailure: Error, Equatable {
        var reason: String
    }

    /// The parsed JSON object of `bytes` (Foundation, as an independent check).
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }

    /// The top-level keys of a compact JSON object, in order (only for objects whose string values hold no `":`).
    static func keyOrder(_ text: String) -> [String] {
        var keys: [String] = []
        var rest = Substring(text)
        while let quote = rest.firstIndex(of: "\"") {
            let afterQuote = rest[rest.index(after: quote)...]
            guard let close = afterQuote.firstIndex(of: "\"") else { break }
            let name = afterQuote[..<close]
            let afterName = afterQuote[afterQuote.index(after: close)...]
            if afterName.first == ":" {
                keys.append(String(name))
            }
            rest = afterName
        }
        return keys
    }

    /// One record view for the mapper.
    static func withInput<R>(
        topic: String,
        key: [UInt8]? = nil,
        value: [UInt8],
        envelope: Bool = false,
        _ body: (RecordMapper.Input) -> R
    ) -> R {
        let topicBytes = Array(topic.utf8)
        return topicBytes.withUnsafeBytes { topicBuffer in
            value.withUnsafeBytes { valueBuffer in
                func input(_ keyBuffer: UnsafeRawBufferPointer?) -> RecordMapper.Input {
                    RecordMapper.Input(
                        topic: topicBuffer,
                        qos: 1,
                        retain: false,
                        key: keyBuffer,
                        value: valueBuffer,
                        valueIsEnvelope: envelope,
                        receiveTimeMicros: 1_795_608_000_123_451
                    )
                }
                if let key {
                    return key.withUnsafeBytes { body(input($0)) }
                }
                return body(input(nil))
            }
        }
    }
}

/// Counts the Swift heap objects (arrays, strings, class instances, boxes) the current thread allocates, through the
/// Swift runtime's `_swift_allocObject` hook.
///
/// Allocation outside the Swift runtime (`malloc` from C, `UnsafeMutablePointer.allocate`) is not seen; the mapping
/// code uses neither.
///
/// Use it only in an exit test's child process, and keep every `String` touched while counting a native one (built at
/// run time, longer than 15 UTF-8 bytes). Installing the hook makes the 6.3 Linux runtime route every retain through
/// `_swift_retain_adapterImpl`, which masks the tag bits off small and immortal strings and then faults on them (a
/// runtime bug fixed upstream after 6.3). The counter turns that routing off again afterwards, but while it counts,
/// any thread retaining such a string can crash the process; a child that does nothing else is safe.
enum AllocationCounter {
    typealias AllocObject = @convention(c) (UnsafeRawPointer?, Int, Int) -> UnsafeMutableRawPointer?

    /// The runtime's hook variable, or nil when this runtime does not export it.
    // The pointer itself never changes; what it points to is written only by `count(_:)`.
    nonisolated(unsafe) private static let hook: UnsafeMutablePointer<AllocObject?>? = {
        guard let address = dlsym(nil, "_swift_allocObject") else { return nil }
        return address.assumingMemoryBound(to: AllocObject?.self)
    }()
    /// The flag `swift_allocObject` sets the first time it finds the hook replaced.
    // As `hook`: written only by `count(_:)`.
    nonisolated(unsafe) private static let swizzling: UnsafeMutablePointer<Bool>? = {
        let name = "_swift_enableSwizzlingOfAllocationAndRefCountingFunctions_forInstrumentsOnly"
        return dlsym(nil, name)?.assumingMemoryBound(to: Bool.self)
    }()
    // Written only by `count(_:)` before the hook is installed; read by the hook on every thread.
    nonisolated(unsafe) private static var original: AllocObject?
    // Written only by `count(_:)` while the hook is not installed.
    nonisolated(unsafe) private static var measuredThread: pthread_t = 0
    private static let allocations = Atomic<Int>(0)

    private static let counting: AllocObject = { metadata, size, alignmentMask in
        if pthread_equal(pthread_self(), AllocationCounter.measuredThread) != 0 {
            AllocationCounter.allocations.add(1, ordering: .relaxed)
        }
        return AllocationCounter.original!(metadata, size, alignmentMask)
    }

    /// Whether the hook and the routing flag exist in this runtime.
    static var isAvailable: Bool { hook != nil && swizzling != nil }

    /// The number of Swift heap allocations `body` makes on this thread, or nil without the hook.
    static func count(_ body: () -> Void) -> Int? {
        guard let hook, let swizzling else { return nil }
        // Touch every static before the hook runs, so none is lazily initialised inside it.
        let counting = Self.counting
        let wasSwizzling = swizzling.pointee
        if original == nil { original = hook.pointee }
        measuredThread = pthread_self()
        allocations.store(0, ordering: .relaxed)
        hook.pointee = counting
        body()
        hook.pointee = original
        swizzling.pointee = wasSwizzling
        measuredThread = 0
        return allocations.load(ordering: .relaxed)
    }

    /// Ends an exit test's child process with `count` as its status (capped at 100; 101 when counting is impossible).
    static func exit(with count: Int?) -> Never {
        Glibc.exit(Int32(count.map { min($0, 100) } ?? 101))
    }
}
