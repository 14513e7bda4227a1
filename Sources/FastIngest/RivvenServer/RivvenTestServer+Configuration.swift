extension RivvenTestServer {
    /// How a ``RivvenTestServer`` behaves. Every default is rivvend 0.0.22's, except where noted.
    ///
    /// | property | default | rivvend equivalent |
    /// |---|---|---|
    /// | `host` | `127.0.0.1` | `--bind` |
    /// | `port` | 0 (a free port) | `--bind` (9092) |
    /// | `defaultPartitions` | 3 | `--default-partitions` |
    /// | `maxRequestSize` | 10 MiB | `--max-request-size` |
    /// | `idleTimeout` | 120 s | `--idle-timeout-secs` |
    /// | `stickyBatchSize` | 16 384 | `--partitioner-batch-size` |
    /// | `stickyLinger` | 100 ms | `--partitioner-linger-ms` |
    /// | `requireAuth` | false | `--require-auth` is rivvend's default; tests mostly want `--no-require-auth` |
    /// | `users` | none | principals created with `rivvend user create` |
    /// | `sessionLifetime` | 3600 s | session timeout |
    /// | `scramServerNonce` | nil: base64 of 24 random bytes | — (a hook to replay captured SCRAM exchanges) |
    /// | `retainRecords` | true | — (false: keep offsets only, for long benchmarks) |
    /// | `tls` | nil: plain TCP | `--tls-cert`, `--tls-key` (and a client CA for mutual TLS) |
    public struct Configuration: Sendable {
        /// The IPv4 address to listen on.
        public var host: String
        /// The port; 0 picks a free one (reported by ``RivvenTestServer/start()``).
        public var port: UInt16
        /// Partitions of a topic created without a count (`CreateTopic{partitions: None}` or auto-created by a publish).
        public var defaultPartitions: UInt32
        /// The largest frame length prefix `L` accepted; a larger one is answered `MESSAGE_TOO_LARGE` and the
        /// connection is closed.
        public var maxRequestSize: Int
        /// A connection on which no complete frame arrives for this long is closed without a reply.
        public var idleTimeout: Duration
        /// Keyless publishes per sticky run before the broker moves to the next partition.
        public var stickyBatchSize: UInt64
        /// Length of a sticky run before the broker moves to the next partition.
        public var stickyLinger: Duration
        /// Whether connections must authenticate (SCRAM-SHA-256 or plaintext `Authenticate`) before anything but
        /// `Ping`, the authentication requests and `Handshake`.
        public var requireAuth: Bool
        /// The principals that can authenticate.
        public var users: [User]
        /// How long a session lasts; reported as `expires_in` (seconds).
        public var sessionLifetime: Duration
        /// Makes the SCRAM server nonce deterministic (the text appended to the client nonce). nil: base64 of 24
        /// random bytes, as rivvend.
        public var scramServerNonce: (@Sendable () -> String)?
        /// Whether records are kept. false keeps only each partition's next offset (and the idempotence state), so a
        /// long benchmark does not fill memory; `Consume` and the inspection API then see no records.
        public var retainRecords: Bool
        /// The listener speaks TLS (1.2 or newer) with this certificate; nil: plain TCP.
        public var tls: TLS?

        /// Creates a configuration; every parameter has rivvend's default (auth off).
        public init(
            host: String = "127.0.0.1",
            port: UInt16 = 0,
            defaultPartitions: UInt32 = 3,
            maxRequestSize: Int = RivvenLimits.maxRequestFrameLength,
            idleTimeout: Duration = .seconds(120),
            stickyBatchSize: UInt64 = 16_384,
            stickyLinger: Duration = .milliseconds(100),
            requireAuth: Bool = false,
            users: [User] = [],
            sessionLifetime: Duration = .seconds(3600),
            scramServerNonce: (@Sendable () -> String)? = nil,
            retainRecords: Bool = true,
            tls: TLS? = nil
        ) {
            self.host = host
            self.port = port
            self.defaultPartitions = defaultPartitions
            self.maxRequestSize = maxRequestSize
            self.idleTimeout = idleTimeout
            self.stickyBatchSize = stickyBatchSize
            self.stickyLinger = stickyLinger
            self.requireAuth = requireAuth
            self.users = users
            self.sessionLifetime = sessionLifetime
            self.scramServerNonce = scramServerNonce
            self.retainRecords = retainRecords
            self.tls = tls
        }
    }

    /// The TLS identity of the listener: PEM files, read at ``RivvenTestServer/start()`` (which fails when they do not
    /// load) and again for each connection.
    public struct TLS: Sendable, Hashable {
        /// The server certificate, followed by any intermediates.
        public var certificatePath: String
        /// The certificate's private key (unencrypted).
        public var keyPath: String
        /// When set, every client must present a certificate signed by a CA in this file (mutual TLS); a client
        /// without one, or with another, fails the handshake.
        public var clientCAPath: String?

        /// Creates a TLS identity.
        public init(certificatePath: String, keyPath: String, clientCAPath: String? = nil) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.clientCAPath = clientCAPath
        }
    }

    /// A principal that can authenticate with SCRAM-SHA-256 or plaintext `Authenticate`.
    public struct User: Sendable, Hashable {
        /// The user name (as sent in `n=` of the SCRAM client-first message, unescaped).
        public var name: String
        /// The password.
        public var password: String
        /// The SCRAM salt; nil: 32 random bytes chosen at ``RivvenTestServer/start()`` (rivvend's length).
        public var salt: [UInt8]?
        /// PBKDF2 iterations announced in the server-first message. rivvend uses 600 000; the default here is the
        /// smallest count the official client accepts (4096), which keeps tests fast.
        public var iterations: Int

        /// Creates a user.
        public init(name: String, password: String, salt: [UInt8]? = nil, iterations: Int = 4096) {
            self.name = name
            self.password = password
            self.salt = salt
            self.iterations = iterations
        }
    }
}

/// One record as the test server stored it.
public struct RivvenStoredRecord: Sendable, Hashable {
    /// The offset in its partition (0, 1, 2, …).
    public var offset: UInt64
    /// The partition.
    public var partition: UInt32
    /// The key, or nil for none.
    public var key: [UInt8]?
    /// The value.
    public var value: [UInt8]
    /// The append time stamped by the server, milliseconds since the Unix epoch.
    public var timestamp: Int64

    /// Creates a record.
    public init(offset: UInt64, partition: UInt32, key: [UInt8]?, value: [UInt8], timestamp: Int64) {
        self.offset = offset
        self.partition = partition
        self.key = key
        self.value = value
        self.timestamp = timestamp
    }
}

/// A snapshot of what a ``RivvenTestServer`` has seen since it was created.
public struct RivvenServerStatistics: Sendable, Hashable {
    /// Decoded requests by Rust variant name (`PublishBatch`, `Handshake`, …), counted whether or not a fault was
    /// injected into them.
    public var requestsByKind: [String: Int] = [:]
    /// Replies with `duplicate: true` (`IdempotentPublish`, `IdempotentPublishBatch`).
    public var duplicatesDetected = 0
    /// Records appended to any partition.
    public var recordsStored = 0
    /// Connections accepted and served.
    public var connectionsAccepted = 0
    /// Connections closed right after accept because the server was "down".
    public var connectionsRefused = 0
    /// Connections open now.
    public var openConnections = 0
    /// Connections closed by a connection-drop fault.
    public var connectionsDroppedByFault = 0
    /// Requests answered with an injected reply (``RivvenServerFaults/failNext(_:kind:message:)``,
    /// ``RivvenServerFaults/replyNext(_:kind:with:)``).
    public var injectedErrors = 0
    /// Frames that could not be decoded (answered `Error` with correlation id 0, or closed).
    public var malformedFrames = 0
    /// Connections closed by the idle timeout.
    public var idleTimeouts = 0
    /// TLS handshakes completed (with ``RivvenTestServer/Configuration/tls``).
    public var tlsHandshakes = 0
    /// TLS handshakes that failed (a client that does not trust the server, has no or a wrong client certificate,
    /// speaks plain TCP, …); the connection is closed.
    public var tlsHandshakeFailures = 0
    /// Server names (SNI) sent in completed TLS handshakes, with how often each came.
    public var tlsServerNames: [String: Int] = [:]

    /// Every decoded request.
    public var totalRequests: Int { requestsByKind.values.reduce(0, +) }

    /// The requests of one kind (a Rust variant name).
    public func requests(_ kind: String) -> Int { requestsByKind[kind] ?? 0 }
}

/// Why a ``RivvenTestServer`` could not start.
public struct RivvenTestServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case alreadyRunning, badAddress, socket, bind, listen, tls
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// ``RivvenTestServer/start()`` was called while the server runs.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// `host` is not an IPv4 address.
        public static let badAddress = Code(.badAddress)
        /// `socket()` or a socket option failed.
        public static let socket = Code(.socket)
        /// `bind()` failed (the port is in use, …).
        public static let bind = Code(.bind)
        /// `listen()` or `getsockname()` failed.
        public static let listen = Code(.listen)
        /// The TLS certificate, key or client CA did not load (``RivvenTestServerError/detail`` says why).
        public static let tls = Code(.tls)

        /// The code's name.
        public var description: String { kind.rawValue }
    }

    /// What failed.
    public var code: Code
    /// The `errno` of the failing call (0 when none).
    public var errno: Int32
    /// Why, in words, when the code and errno do not say it all (nil when none).
    public var detail: String?

    /// Creates an error.
    public init(_ code: Code, errno: Int32 = 0, detail: String? = nil) {
        self.code = code
        self.errno = errno
        self.detail = detail
    }

    /// One line, such as `bind failed (errno 98)` or `tls failed: cannot load …`.
    public var description: String {
        if let detail { return "\(code) failed: \(detail)" }
        return errno == 0 ? "\(code) failed" : "\(code) failed (errno \(errno))"
    }
}
