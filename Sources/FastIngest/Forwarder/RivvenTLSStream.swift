// With MQTT/MosquittoClient.swift, the only file that imports CMosquitto (STYLE.md convention 2), here for the
// OpenSSL that module exposes. Every OpenSSL handle, call and error code stays in this file.
import CMosquitto
import Glibc

/// A TLS connection (TLS 1.2 or newer, OpenSSL) over a connected non-blocking socket: the client side, to a Rivven
/// broker, made by ``RivvenStreams/connect(_:tls:timeoutMilliseconds:useIOURing:)`` when `broker.tls.enabled`; and
/// the accepting side, for ``RivvenTestServer``.
///
/// The single owner of its `SSL_CTX` and `SSL`, both freed in `deinit`. A client stream owns its socket too (it
/// closes it in `deinit`, after a best-effort TLS `close_notify`); an accepted stream leaves the socket to its
/// caller. The handshake completes inside the factory, within the timeout; afterwards ``read(into:)`` and
/// ``write(_:)`` never block: OpenSSL's "want read" / "want write" come back as 0, and
/// ``pollEvents(wantRead:wantWrite:)`` then asks for the socket event the last call needs (a TLS read may need
/// writability, and the reverse). ``hasBufferedInput`` is `SSL_pending`: decrypted bytes not yet read.
///
/// As with any OpenSSL stream, after ``write(_:)`` returned 0 the next write must start with the same bytes (at least
/// as many): part of them may already sit in an encrypted record waiting for the socket.
///
/// The socket I/O goes through a small OpenSSL BIO of this file that calls `send(MSG_NOSIGNAL)` and `recv`, so a peer
/// that has gone away yields `EPIPE`, never `SIGPIPE`. io_uring is not used for TLS: OpenSSL itself writes each record
/// through that BIO, so `useIOURing` applies to plain TCP only.
package final class RivvenTLSStream: RivvenStream {
    package let fileDescriptor: Int32
    package let server: String
    /// `tls 1.3`, `tls 1.2`: the negotiated protocol, known after the handshake.
    package private(set) var kind = "tls"

    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let ownsDescriptor: Bool
    /// Who the other end is, in messages: "the broker" or "the client".
    private let peer: String
    /// The `poll` events the last read, or write, is waiting for.
    private var readEvents = Int16(POLLIN)
    private var writeEvents = Int16(POLLOUT)
    /// True from the end of the handshake to a fatal TLS error (after which OpenSSL forbids `SSL_shutdown`) or the
    /// `close_notify`.
    private var usable = false

    private init(
        fd: Int32,
        server: String,
        peer: String,
        context: OpaquePointer,
        ssl: OpaquePointer,
        ownsDescriptor: Bool
    ) {
        self.fileDescriptor = fd
        self.server = server
        self.peer = peer
        self.context = context
        self.ssl = ssl
        self.ownsDescriptor = ownsDescriptor
    }

    deinit {
        if ownsDescriptor { sendCloseNotify() }
        SSL_free(ssl)  // frees the BIO too
        SSL_CTX_free(context)
        if ownsDescriptor { close(fileDescriptor) }
    }

    // MARK: Factories

    /// Completes a client handshake on `fd` (connected, non-blocking) to `server` (`host:port`, as configured) within
    /// `timeoutMilliseconds` of `start`: verifies the broker's certificate against `tls.caPath` (or the system CAs) and
    /// its name (`tls.serverName`, else the host) unless `tls.insecure`, sends SNI for a DNS name, and presents the
    /// client certificate when `tls.certPath`/`keyPath` are set. Takes ownership of `fd`: it is closed on failure.
    package static func connect(
        fd: Int32,
        server: String,
        tls: RivvenTLSConfiguration,
        timeoutMilliseconds: Int32,
        start: ContinuousClock.Instant = .now
    ) throws(RivvenStreamError) -> RivvenTLSStream {
        let context: OpaquePointer
        do {
            context = try makeContext(server: server, method: TLS_client_method())
        } catch {
            close(fd)
            throw error
        }
        do {
            if tls.insecure {
                SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            } else {
                SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
                try loadTrustedCAs(context, path: tls.caPath, server: server)
            }
            if let certificate = tls.certPath, let key = tls.keyPath {
                try loadIdentity(context, certificate: certificate, key: key, server: server, what: "client")
            }
        } catch {
            SSL_CTX_free(context)
            close(fd)
            throw error
        }
        let stream = try make(fd: fd, server: server, peer: "the broker", context: context, ownsDescriptor: true)
        // From here on `stream` owns everything; a throw frees it.
        // An empty name would switch the name check off (SSL_set1_host); it means "not set".
        let name = tls.serverName.flatMap { $0.isEmpty ? nil : $0 } ?? host(of: server)
        let isAddress = isIPAddress(name)
        if !tls.insecure {
            let set =
                isAddress
                ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream.ssl), name)
                : SSL_set1_host(stream.ssl, name)
            guard set == 1 else { throw stream.failure("cannot verify the name \(name)") }
            if !isAddress { SSL_set_hostflags(stream.ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)) }
        }
        // SNI carries DNS names only (RFC 6066 §3).
        if !isAddress && !name.isEmpty && CMosquitto_SSL_set_tlsext_host_name(stream.ssl, name) != 1 {
            throw stream.failure("cannot send the server name \(name)")
        }
        SSL_set_connect_state(stream.ssl)
        try stream.handshake(timeoutMilliseconds: timeoutMilliseconds, start: start)
        return stream
    }

    /// Completes a server handshake on the accepted, non-blocking socket `fd` within `timeoutMilliseconds`, presenting
    /// `certificatePath`/`keyPath`; with `clientCAPath`, the client must present a certificate that CA signed (mutual
    /// TLS). `peer` names the client in messages. The socket stays the caller's (it is not closed, not even on
    /// failure).
    package static func accept(
        fd: Int32,
        peer: String,
        certificatePath: String,
        keyPath: String,
        clientCAPath: String?,
        timeoutMilliseconds: Int32
    ) throws(RivvenStreamError) -> RivvenTLSStream {
        let context = try makeServerContext(
            certificatePath: certificatePath,
            keyPath: keyPath,
            clientCAPath: clientCAPath,
            name: peer
        )
        let stream = try make(fd: fd, server: peer, peer: "the client", context: context, ownsDescriptor: false)
        SSL_set_accept_state(stream.ssl)
        try stream.handshake(timeoutMilliseconds: timeoutMilliseconds, start: .now)
        return stream
    }

    /// Checks that a server certificate, its key and the optional client CA load, as
    /// ``accept(fd:peer:certificatePath:keyPath:clientCAPath:timeoutMilliseconds:)`` needs them, so a server can refuse
    /// to start rather than fail every handshake.
    package static func checkServerFiles(
        certificatePath: String,
        keyPath: String,
        clientCAPath: String?
    ) throws(RivvenStreamError) {
        let context = try makeServerContext(
            certificatePath: certificatePath,
            keyPath: keyPath,
            clientCAPath: clientCAPath,
            name: "TLS listener"
        )
        SSL_CTX_free(context)
    }

    private static func makeServerContext(
        certificatePath: String,
        keyPath: String,
        clientCAPath: String?,
        name: String
    ) throws(RivvenStreamError) -> OpaquePointer {
        let context = try makeContext(server: name, method: TLS_server_method())
        do {
            try loadIdentity(context, certificate: certificatePath, key: keyPath, server: name, what: "server")
            if let clientCAPath {
                try loadTrustedCAs(context, path: clientCAPath, server: name)
                // Tell clients which CA to pick a certificate for; the list is the context's from here.
                if let names = SSL_load_client_CA_file(clientCAPath) { SSL_CTX_set_client_CA_list(context, names) }
                SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        return context
    }

    /// A context for TLS 1.2+, partial writes and moving write buffers (``write(_:)`` is called with a slice that
    /// starts where the last one stopped), and no passphrase prompt on the terminal for an encrypted key.
    private static func makeContext(server: String, method: OpaquePointer?) throws(RivvenStreamError) -> OpaquePointer {
        ERR_clear_error()
        guard let context = SSL_CTX_new(method) else {
            throw RivvenStreamError("\(server): cannot set up TLS: \(errorQueueText() ?? "SSL_CTX_new failed")")
        }
        guard CMosquitto_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            SSL_CTX_free(context)
            throw RivvenStreamError("\(server): cannot set up TLS: \(errorQueueText() ?? "no TLS 1.2 support")")
        }
        _ = CMosquitto_SSL_CTX_set_mode(
            context,
            Int(SSL_MODE_ENABLE_PARTIAL_WRITE) | Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
        )
        SSL_CTX_set_default_passwd_cb(context) { _, _, _, _ in 0 }
        return context
    }

    /// Trusts the PEM CAs in `path` (a file, or a hashed directory), or the system's when nil.
    private static func loadTrustedCAs(
        _ context: OpaquePointer,
        path: String?,
        server: String
    ) throws(RivvenStreamError) {
        ERR_clear_error()
        guard let path else {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw RivvenStreamError("\(server): cannot load the system CAs: \(errorQueueText() ?? "unknown error")")
            }
            return
        }
        var status = stat()
        let isDirectory = stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
        let loaded =
            isDirectory
            ? SSL_CTX_load_verify_locations(context, nil, path) : SSL_CTX_load_verify_locations(context, path, nil)
        guard loaded == 1 else {
            throw RivvenStreamError("\(server): cannot load CA \(path): \(errorQueueText() ?? "unreadable")")
        }
    }

    /// Loads a certificate chain and its private key (PEM) and checks they belong together.
    private static func loadIdentity(
        _ context: OpaquePointer,
        certificate: String,
        key: String,
        server: String,
        what: String
    ) throws(RivvenStreamError) {
        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
            throw RivvenStreamError(
                "\(server): cannot load TLS \(what) certificate \(certificate): \(errorQueueText() ?? "unreadable")"
            )
        }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
            throw RivvenStreamError(
                "\(server): cannot load TLS \(what) key \(key): \(errorQueueText() ?? "unreadable")"
            )
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw RivvenStreamError(
                "\(server): TLS \(what) key \(key) does not match certificate \(certificate): "
                    + (errorQueueText() ?? "mismatch")
            )
        }
    }

    /// Wraps `context` and `fd` into a stream; frees `context` (and closes `fd` when owned) if that fails.
    private static func make(
        fd: Int32,
        server: String,
        peer: String,
        context: OpaquePointer,
        ownsDescriptor: Bool
    ) throws(RivvenStreamError) -> RivvenTLSStream {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            let reason = errorQueueText() ?? "SSL_new failed"
            SSL_CTX_free(context)
            if ownsDescriptor { close(fd) }
            throw RivvenStreamError("\(server): cannot set up TLS: \(reason)")
        }
        guard let bio = BIO_new(socketMethod) else {
            let reason = errorQueueText() ?? "BIO_new failed"
            SSL_free(ssl)
            SSL_CTX_free(context)
            if ownsDescriptor { close(fd) }
            throw RivvenStreamError("\(server): cannot set up TLS: \(reason)")
        }
        // The BIO's data is the descriptor plus one: a non-null pointer value, never dereferenced.
        BIO_set_data(bio, UnsafeMutableRawPointer(bitPattern: Int(fd) + 1))
        BIO_set_init(bio, 1)
        SSL_set_bio(ssl, bio, bio)
        return RivvenTLSStream(
            fd: fd,
            server: server,
            peer: peer,
            context: context,
            ssl: ssl,
            ownsDescriptor: ownsDescriptor
        )
    }

    // MARK: Handshake

    private func handshake(timeoutMilliseconds: Int32, start: ContinuousClock.Instant) throws(RivvenStreamError) {
        let deadline = start + .milliseconds(Int64(timeoutMilliseconds))
        while true {
            ERR_clear_error()
            errno = 0
            let result = SSL_do_handshake(ssl)
            if result == 1 { break }
            let code = SSL_get_error(ssl, result)
            var pfd = pollfd(fd: fileDescriptor, events: 0, revents: 0)
            switch code {
            case SSL_ERROR_WANT_READ: pfd.events = Int16(POLLIN)
            case SSL_ERROR_WANT_WRITE: pfd.events = Int16(POLLOUT)
            default: throw failure("TLS handshake failed", code: code)
            }
            let left = deadline - .now
            let milliseconds = left.wholeMilliseconds
            let ready = milliseconds > 0 ? poll(&pfd, 1, Int32(clamping: milliseconds)) : 0
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw RivvenStreamError("\(server): no TLS handshake within \(timeoutMilliseconds) ms")
            }
        }
        usable = true
        // "TLSv1.3" → "tls 1.3"
        let version = String(cString: SSL_get_version(ssl))
        kind = version.hasPrefix("TLSv") ? "tls " + version.dropFirst(4) : "tls " + version
    }

    /// The server name (SNI) the client sent, on an accepted stream; nil when it sent none.
    package var requestedServerName: String? {
        SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    }

    // MARK: RivvenStream

    package var hasBufferedInput: Bool { SSL_pending(ssl) > 0 }

    package func pollEvents(wantRead: Bool, wantWrite: Bool) -> Int16 {
        (wantRead ? readEvents : 0) | (wantWrite ? writeEvents : 0)
    }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(RivvenStreamError) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        ERR_clear_error()
        errno = 0
        var written = 0
        if SSL_write_ex(ssl, base, bytes.count, &written) == 1 {
            writeEvents = Int16(POLLOUT)
            return written
        }
        let code = SSL_get_error(ssl, 0)
        switch code {
        case SSL_ERROR_WANT_WRITE:
            writeEvents = Int16(POLLOUT)
            return 0
        case SSL_ERROR_WANT_READ:
            writeEvents = Int16(POLLIN)
            return 0
        default:
            throw failure("TLS send failed", code: code)
        }
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(RivvenStreamError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        ERR_clear_error()
        errno = 0
        var count = 0
        if SSL_read_ex(ssl, base, buffer.count, &count) == 1 {
            readEvents = Int16(POLLIN)
            return count
        }
        let code = SSL_get_error(ssl, 0)
        switch code {
        case SSL_ERROR_WANT_READ:
            readEvents = Int16(POLLIN)
            return 0
        case SSL_ERROR_WANT_WRITE:
            readEvents = Int16(POLLOUT)
            return 0
        default:
            throw failure("TLS receive failed", code: code)
        }
    }

    /// Sends a TLS `close_notify` once, best effort (it is not waited for, nor for the peer's answer). Does nothing
    /// after a fatal TLS error.
    package func sendCloseNotify() {
        guard usable else { return }
        usable = false
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    // MARK: Errors

    /// An error for the failed `SSL_*` call that got `code` from `SSL_get_error`, naming the server and OpenSSL's
    /// reason (with the certificate verification result when verification failed); marks the stream unusable.
    private func failure(_ what: String, code: Int32) -> RivvenStreamError {
        let savedErrno = errno
        let first = ERR_peek_error()
        // An SSL-library reason code, or 0.
        let sslReason = ERR_GET_LIB(first) == ERR_LIB_SSL ? ERR_GET_REASON(first) : 0
        let reason = Self.errorQueueText()
        if code == SSL_ERROR_SSL || code == SSL_ERROR_SYSCALL { usable = false }
        if code == SSL_ERROR_ZERO_RETURN {
            return RivvenStreamError("\(server): \(peer) closed the TLS connection", closedByPeer: true)
        }
        if let reason {
            if sslReason == SSL_R_UNEXPECTED_EOF_WHILE_READING {
                return RivvenStreamError(
                    "\(server): \(peer) closed the connection (without TLS close_notify)",
                    closedByPeer: true
                )
            }
            var text = reason
            let verification = SSL_get_verify_result(ssl)
            if sslReason == SSL_R_CERTIFICATE_VERIFY_FAILED && verification != X509_V_OK {
                text += " (\(String(cString: X509_verify_cert_error_string(verification))))"
            }
            if sslReason == SSL_R_WRONG_VERSION_NUMBER && peer == "the broker" {
                text += " (is TLS enabled on the broker?)"
            }
            return RivvenStreamError("\(server): \(what): \(text)")
        }
        if code == SSL_ERROR_SYSCALL && savedErrno != 0 {
            return RivvenStreamError(
                "\(server): \(what): \(String(cString: strerror(savedErrno)))",
                closedByPeer: savedErrno == EPIPE || savedErrno == ECONNRESET
            )
        }
        if code == SSL_ERROR_SYSCALL {
            return RivvenStreamError("\(server): \(what): \(peer) closed the connection", closedByPeer: true)
        }
        return RivvenStreamError("\(server): \(what) (OpenSSL error \(code))")
    }

    /// An error for a failed setup step.
    private func failure(_ what: String) -> RivvenStreamError {
        RivvenStreamError("\(server): \(what): \(Self.errorQueueText() ?? "OpenSSL error")")
    }

    /// The reason of the first error queued on this thread (`certificate verify failed`), or nil; empties the queue.
    private static func errorQueueText() -> String? {
        let first = ERR_get_error()
        defer { ERR_clear_error() }
        guard first != 0 else { return nil }
        if ERR_GET_LIB(first) == ERR_LIB_SYS { return String(cString: strerror(ERR_GET_REASON(first))) }
        if let reason = ERR_reason_error_string(first) { return String(cString: reason) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(first, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Names

    /// The host of `host:port` or `[v6]:port`.
    private static func host(of server: String) -> String {
        guard let colon = server.lastIndex(of: ":") else { return server }
        let host = server[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { return String(host.dropFirst().dropLast()) }
        return String(host)
    }

    private static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    // MARK: Socket BIO

    /// A socket BIO like OpenSSL's, but sending with `MSG_NOSIGNAL`. Made once and kept for the life of the process.
    // nonisolated(unsafe): an OpenSSL method table, filled in once here and only read afterwards (OpenSSL
    // synchronises nothing on it, and needs nothing).
    private nonisolated(unsafe) static let socketMethod: OpaquePointer = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rivven socket") else {
            fatalError("OpenSSL could not allocate a BIO method")
        }
        _ = BIO_meth_set_write_ex(method) { bio, data, length, written in
            guard let bio else { return 0 }
            CMosquitto_BIO_clear_retry_flags(bio)
            while true {
                let n = send(RivvenTLSStream.descriptor(of: bio), data, length, Int32(MSG_NOSIGNAL))
                if n >= 0 {
                    written?.pointee = n
                    return 1
                }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { CMosquitto_BIO_set_retry_write(bio) }
                return 0
            }
        }
        _ = BIO_meth_set_read_ex(method) { bio, data, length, readBytes in
            guard let bio, length > 0 else { return 0 }
            CMosquitto_BIO_clear_retry_flags(bio)
            while true {
                let n = recv(RivvenTLSStream.descriptor(of: bio), data, length, 0)
                if n > 0 {
                    readBytes?.pointee = n
                    return 1
                }
                if n == 0 {
                    // End of stream: OpenSSL asks BIO_CTRL_EOF below to tell it from an error.
                    BIO_set_flags(bio, BIO_FLAGS_IN_EOF)
                    return 0
                }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { CMosquitto_BIO_set_retry_read(bio) }
                return 0
            }
        }
        _ = BIO_meth_set_ctrl(method) { bio, command, _, _ in
            switch command {
            case BIO_CTRL_FLUSH: return 1
            case BIO_CTRL_EOF: return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0
            default: return 0
            }
        }
        return method
    }()

    private static func descriptor(of bio: OpaquePointer) -> Int32 {
        Int32(Int(bitPattern: BIO_get_data(bio)) - 1)
    }
}
