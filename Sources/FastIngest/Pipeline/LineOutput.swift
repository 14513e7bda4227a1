import Glibc
import Synchronization

/// A file descriptor that receives whole JSON lines from several connection threads (`run --output`).
///
/// Each connection buffers its own lines and hands over a whole buffer per commit; the lock is taken once per
/// buffer, never per message.
public final class LineOutput: Sendable {
    private let fd: Int32
    private let ownsFD: Bool
    private let lock = Mutex<Void>(())
    /// Where the lines go, for messages.
    public let name: String

    /// Standard output.
    public static func standardOutput() -> LineOutput { LineOutput(fd: 1, owns: false, name: "stdout") }

    /// Opens (creating or appending to) `path`.
    public static func file(_ path: String) throws(PipelineError) -> LineOutput {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PipelineError(.output, "cannot open --output \(path): \(String(cString: strerror(errno)))")
        }
        return LineOutput(fd: fd, owns: true, name: path)
    }

    private init(fd: Int32, owns: Bool, name: String) {
        self.fd = fd
        self.ownsFD = owns
        self.name = name
    }

    deinit {
        if ownsFD { close(fd) }
    }

    /// Writes all of `bytes`; returns the errno on failure.
    public func write(_ bytes: [UInt8]) -> Int32? {
        lock.withLock { _ in
            bytes.withUnsafeBytes { raw -> Int32? in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += n
                }
                return nil
            }
        }
    }
}

/// A failure of the pipeline outside MQTT (output, wiring).
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public struct Code: Sendable, Hashable {
        private let raw: String
        /// The output could not be opened or written.
        public static let output = Code(raw: "output")
        /// The MQTT side failed for good.
        public static let mqtt = Code(raw: "mqtt")
    }
    /// What failed.
    public var code: Code
    /// Why, in words.
    public var message: String
    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
