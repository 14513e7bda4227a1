import Foundation

/// A throw-away PKI for TLS tests, made once per test process with the `openssl` command-line tool (EC P-256 keys,
/// PEM files in a fresh temporary directory):
///
/// - a CA, and a server certificate it signed for `localhost`, `127.0.0.1` and `::1` (alone, and as a chain file
///   followed by the CA certificate);
/// - a server certificate it signed for the DNS name `rivven.test` only (host name mismatch tests);
/// - a client certificate it signed (mutual TLS);
/// - an unrelated CA, and a client certificate that CA signed ("wrong CA" tests).
struct TLSTestCertificates: Sendable {
    /// The directory holding every file below.
    var directory: String
    var caCertificate: String
    var serverCertificate: String
    var serverKey: String
    /// `serverCertificate` followed by `caCertificate`.
    var serverChain: String
    /// Valid for `rivven.test` only: no IP address, not `localhost`.
    var namedServerCertificate: String
    var namedServerKey: String
    var clientCertificate: String
    var clientKey: String
    var otherCACertificate: String
    var otherClientCertificate: String
    var otherClientKey: String

    /// The DNS name in ``namedServerCertificate``.
    static let namedServerName = "rivven.test"

    /// The material, generated on first use; throws (every time) when generation failed.
    static func shared() throws -> TLSTestCertificates {
        try generated.get()
    }

    private static let generated = Result { try generate() }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private static func generate() throws -> TLSTestCertificates {
        var template = Array((NSTemporaryDirectory() + "/rivven-tls-test-XXXXXX").utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp failed")
        }
        let directory = String(cString: created)
        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func write(_ text: String, to name: String) throws {
            try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        }

        // Our own minimal configuration, so the system's openssl.cnf plays no part.
        try write("[ req ]\ndistinguished_name = dn\nprompt = no\n[ dn ]\nCN = placeholder\n", to: "req.cnf")
        let leaf = """
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid, issuer

            """
        try write(
            leaf + "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n",
            to: "server.ext"
        )
        try write(leaf + "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:\(namedServerName)\n", to: "named.ext")
        try write(leaf + "extendedKeyUsage = clientAuth\n", to: "client.ext")

        let newKey = [
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-config", path("req.cnf"),
        ]
        func makeCA(_ name: String, commonName: String) throws {
            try openssl(
                ["req", "-x509"] + newKey + [
                    "-keyout", path("\(name).key"), "-out", path("\(name).crt"), "-days", "3650", "-sha256",
                    "-subj", "/CN=\(commonName)", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash",
                ]
            )
        }
        func makeLeaf(_ name: String, commonName: String, extensions: String, ca: String, serial: String) throws {
            try openssl(
                ["req", "-new"] + newKey + [
                    "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(commonName)",
                ]
            )
            try openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).crt"), "-CAkey", path("\(ca).key"),
                "-set_serial", serial, "-days", "3650", "-sha256", "-extfile", path(extensions),
                "-out", path("\(name).crt"),
            ])
        }
        try makeCA("ca", commonName: "rivven-mqtt TLS test CA")
        try makeCA("other-ca", commonName: "rivven-mqtt unrelated test CA")
        try makeLeaf("server", commonName: "localhost", extensions: "server.ext", ca: "ca", serial: "0x1001")
        try makeLeaf("named", commonName: namedServerName, extensions: "named.ext", ca: "ca", serial: "0x1002")
        try makeLeaf("client", commonName: "rivven-test-client", extensions: "client.ext", ca: "ca", serial: "0x1003")
        try makeLeaf(
            "other-client",
            commonName: "rivven-other-client",
            extensions: "client.ext",
            ca: "other-ca",
            serial: "0x2001"
        )
        try write(
            try String(contentsOfFile: path("server.crt"), encoding: .utf8)
                + String(contentsOfFile: path("ca.crt"), encoding: .utf8),
            to: "server-chain.crt"
        )
        return TLSTestCertificates(
            directory: directory,
            caCertificate: path("ca.crt"),
            serverCertificate: path("server.crt"),
            serverKey: path("server.key"),
            serverChain: path("server-chain.crt"),
            namedServerCertificate: path("named.crt"),
            namedServerKey: path("named.key"),
            clientCertificate: path("client.crt"),
            clientKey: path("client.key"),
            otherCACertificate: path("other-ca.crt"),
            otherClientCertificate: path("other-client.crt"),
            otherClientKey: path("other-client.key")
        )
    }

    /// Runs `openssl arguments`; throws with its output when it fails.
    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "openssl \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }
}
