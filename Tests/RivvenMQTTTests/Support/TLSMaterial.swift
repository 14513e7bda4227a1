import Foundation

/// A throw-away PKI for TLS tests, made with the `openssl` command-line tool (EC P-256 keys, PEM files).
///
/// - a CA (key + self-signed certificate);
/// - a server certificate signed by that CA for `hostName`, `ipAddress` and `::1`;
/// - a client certificate signed by that CA, for mutual TLS;
/// - a second, unrelated CA and a client certificate signed by it, for "wrong CA" tests;
/// - an expired server certificate (same key and names as the server certificate, valid only in
///   January 2020), made with `openssl ca -startdate/-enddate` because `openssl x509 -days` cannot go back
///   in time.
struct TLSMaterial: Sendable, Hashable {
    /// The directory that holds every file below.
    var directory: String
    /// The CA certificate to trust (`cafile` on the broker, `--cafile` on the clients).
    var caCertificate: String
    var caKey: String
    /// The certificate and key the broker's TLS listener presents.
    var serverCertificate: String
    var serverKey: String
    /// A client certificate and key signed by `caCertificate` (for `require_certificate true`).
    var clientCertificate: String
    var clientKey: String
    /// An unrelated CA: trusting it must make verification of the server fail.
    var otherCACertificate: String
    var otherCAKey: String
    /// A client certificate and key signed by the unrelated CA: the broker must refuse it.
    var otherClientCertificate: String
    var otherClientKey: String
    /// A server certificate for the same names and key as `serverCertificate`, expired since 2020-02-01.
    var expiredServerCertificate: String
    /// The names the server certificates carry as subjectAltName.
    var hostName: String
    var ipAddress: String

    /// The same material with the broker presenting the expired server certificate.
    func withExpiredServerCertificate() -> TLSMaterial {
        var copy = self
        copy.serverCertificate = expiredServerCertificate
        return copy
    }

    /// Generates the files into `directory` (which must exist). Each `openssl` run has a timeout, and a
    /// failure throws a `HarnessError` carrying openssl's stderr.
    static func generate(
        in directory: String,
        hostName: String = "localhost",
        ipAddress: String = "127.0.0.1"
    ) async throws -> TLSMaterial {
        guard let openssl = BinaryProcess.which("openssl") else {
            throw HarnessError("TLSMaterial: the openssl command-line tool is not installed")
        }
        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func write(_ text: String, to name: String) throws {
            try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        }
        func run(_ arguments: [String]) async throws {
            try await BinaryProcess.runChecked(openssl, arguments, currentDirectory: directory, timeout: .seconds(60))
        }

        let material = TLSMaterial(
            directory: directory,
            caCertificate: path("ca.crt"),
            caKey: path("ca.key"),
            serverCertificate: path("server.crt"),
            serverKey: path("server.key"),
            clientCertificate: path("client.crt"),
            clientKey: path("client.key"),
            otherCACertificate: path("other-ca.crt"),
            otherCAKey: path("other-ca.key"),
            otherClientCertificate: path("other-client.crt"),
            otherClientKey: path("other-client.key"),
            expiredServerCertificate: path("server-expired.crt"),
            hostName: hostName,
            ipAddress: ipAddress
        )

        // Our own minimal configuration, so the system's openssl.cnf plays no part.
        try write(
            """
            [ req ]
            distinguished_name = req_dn
            prompt = no
            [ req_dn ]
            CN = placeholder
            """,
            to: "openssl-req.cnf"
        )
        var altNames = ["DNS:\(hostName)", "IP:\(ipAddress)"]
        if ipAddress != "::1" {
            altNames.append("IP:::1")
        }
        let serverExtensions = """
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = \(altNames.joined(separator: ", "))
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid, issuer
            """
        try write(serverExtensions, to: "server.ext")
        try write(
            """
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = clientAuth
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid, issuer
            """,
            to: "client.ext"
        )

        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let config = ["-config", path("openssl-req.cnf")]

        func makeCA(certificate: String, key: String, name: String) async throws {
            try await run(
                ["req", "-x509"] + newKey + config + [
                    "-keyout", key, "-out", certificate, "-days", "3650", "-sha256", "-subj", "/CN=\(name)",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                    "-addext", "subjectKeyIdentifier=hash",
                ]
            )
        }
        func makeLeaf(
            name: String,
            certificate: String,
            key: String,
            extensions: String,
            caCertificate: String,
            caKey: String,
            serial: String
        ) async throws {
            let request = path("\(name).csr")
            try await run(
                ["req", "-new"] + newKey + config + ["-keyout", key, "-out", request, "-subj", "/CN=\(name)"]
            )
            try await run([
                "x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-set_serial", serial,
                "-days", "3650", "-sha256", "-extfile", extensions, "-out", certificate,
            ])
        }

        try await makeCA(certificate: material.caCertificate, key: material.caKey, name: "rivven-mqtt test CA")
        try await makeCA(
            certificate: material.otherCACertificate,
            key: material.otherCAKey,
            name: "rivven-mqtt unrelated test CA"
        )
        try await makeLeaf(
            name: hostName,
            certificate: material.serverCertificate,
            key: material.serverKey,
            extensions: path("server.ext"),
            caCertificate: material.caCertificate,
            caKey: material.caKey,
            serial: "0x1001"
        )
        try await makeLeaf(
            name: "rivven-test-client",
            certificate: material.clientCertificate,
            key: material.clientKey,
            extensions: path("client.ext"),
            caCertificate: material.caCertificate,
            caKey: material.caKey,
            serial: "0x1002"
        )
        try await makeLeaf(
            name: "rivven-other-client",
            certificate: material.otherClientCertificate,
            key: material.otherClientKey,
            extensions: path("client.ext"),
            caCertificate: material.otherCACertificate,
            caKey: material.otherCAKey,
            serial: "0x2001"
        )

        // The expired certificate: `openssl ca` is the 3.0 tool that takes explicit validity dates. It needs
        // a tiny CA database of its own.
        let database = path("ca-db")
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        try write("", to: "ca-db/index.txt")
        try write("1003\n", to: "ca-db/serial")
        try write(
            """
            [ ca ]
            default_ca = expired_ca
            [ expired_ca ]
            database = \(database)/index.txt
            new_certs_dir = \(database)
            serial = \(database)/serial
            default_md = sha256
            policy = expired_policy
            unique_subject = no
            copy_extensions = none
            email_in_dn = no
            [ expired_policy ]
            commonName = supplied
            [ expired_server_ext ]
            \(serverExtensions)
            """,
            to: "openssl-ca.cnf"
        )
        try await run([
            "ca", "-batch", "-config", path("openssl-ca.cnf"), "-cert", material.caCertificate, "-keyfile",
            material.caKey, "-in", path("\(hostName).csr"), "-out", material.expiredServerCertificate,
            "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extensions", "expired_server_ext",
            "-notext",
        ])
        return material
    }
}
