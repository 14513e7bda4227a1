import FastIngest
import Foundation
import Testing

extension ConfigTests {
    @Suite struct Files {
        @Test func tlsFilesFromTheTLSSection() throws {
            let directory = try TemporaryDirectory()
            let ca = try directory.write("ca.pem", "CA")
            let cert = try directory.write("client.pem", "CERT")
            let key = try directory.write("client.key", "KEY")
            let yaml = ConfigFixture.connector(config: [
                "tls:", "  ca_cert: \(ca)", "  client_cert: \(cert)", "  client_key: \(key)", "  insecure: true",
            ])
            let tls = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt.tls)
            #expect(tls == MQTTTLSConfiguration(caCert: ca, clientCert: cert, clientKey: key, insecure: true))
        }

        @Test func tlsFilesUnderAuthAsRivvenHasThem() throws {
            let directory = try TemporaryDirectory()
            let ca = try directory.write("ca.pem", "CA")
            let cert = try directory.write("client.pem", "CERT")
            let key = try directory.write("client.key", "KEY")
            let yaml = ConfigFixture.connector(config: [
                "auth:", "  ca_cert: \(ca)", "  client_cert: \(cert)", "  client_key: \(key)",
            ])
            let tls = try #require(ConfigFixture.parse(yaml)?.sources[0].mqtt.tls)
            #expect(tls.caCert == ca && tls.clientCert == cert && tls.clientKey == key)
            #expect(tls.insecure == false)
        }

        @Test func missingAndUnreadableTLSFiles() throws {
            let directory = try TemporaryDirectory()
            let yaml = ConfigFixture.connector(config: [
                "tls:", "  ca_cert: \(directory.path)/nope.pem", "  client_cert: \(directory.path)",
                "  client_key: \(directory.path)/nope.key",
            ])
            let lines = ConfigFixture.lines(yaml)
            #expect(lines.count == 3, "\(lines)")
            #expect(lines[0].hasPrefix("config.tls.ca_cert: cannot use `\(directory.path)/nope.pem`: No such file"))
            #expect(lines[1] == "config.tls.client_cert: `\(directory.path)` is a directory, not a file")
            #expect(lines[2].hasPrefix("config.tls.client_key: cannot use"))
        }

        @Test func keyWithoutCertAndCertWithoutKey() throws {
            let directory = try TemporaryDirectory()
            let file = try directory.write("x.pem", "X")
            let keyOnly = ConfigFixture.connector(config: ["tls:", "  client_key: \(file)"])
            #expect(ConfigFixture.lines(keyOnly) == ["config.tls.client_key: a client key needs `client_cert` too"])
            let certOnly = ConfigFixture.connector(config: ["auth:", "  client_cert: \(file)"])
            #expect(
                ConfigFixture.lines(certOnly) == [
                    "config.auth.client_cert: a client certificate needs `client_key` too"
                ]
            )
        }

        @Test func sameFileInBothPlacesIsFineDifferentFilesConflict() throws {
            let directory = try TemporaryDirectory()
            let a = try directory.write("a.pem", "A")
            let b = try directory.write("b.pem", "B")
            let same = ConfigFixture.connector(config: ["tls:", "  ca_cert: \(a)", "auth:", "  ca_cert: \(a)"])
            #expect(ConfigFixture.parse(same)?.sources[0].mqtt.tls.caCert == a)
            let different = ConfigFixture.connector(config: ["tls:", "  ca_cert: \(a)", "auth:", "  ca_cert: \(b)"])
            #expect(ConfigFixture.problems(different).map(\.path) == ["config.auth.ca_cert"])
        }

        @Test func rivvenTLSFiles() throws {
            let directory = try TemporaryDirectory()
            let ca = try directory.write("ca.pem", "CA")
            let good = ConfigFixture.connector(top: [
                "broker:", "  bootstrap_servers: [\"r:9092\"]", "  tls:", "    enabled: true", "    ca_path: \(ca)",
            ])
            #expect(ConfigFixture.parse(good)?.rivven?.tls == RivvenTLSConfiguration(enabled: true, caPath: ca))
            let bad = ConfigFixture.connector(top: [
                "broker:", "  bootstrap_servers: [\"r:9092\"]", "  tls:", "    enabled: true",
                "    key_path: \(directory.path)/missing.key",
            ])
            #expect(ConfigFixture.problems(bad).map(\.path) == ["broker.tls.key_path", "broker.tls.key_path"])
        }

        @Test func loadReadsAFileAndUsesTheGivenEnvironment() throws {
            let directory = try TemporaryDirectory()
            let path = try directory.write(
                "connector.yaml",
                ConfigFixture.connector(config: ["client_id: ${CID}"])
            )
            let configuration = try IngestConfiguration.load(
                path: path,
                environment: ["CID": "from-env"],
                hostName: "h"
            )
            #expect(configuration.sources[0].mqtt.clientID == "from-env")
        }

        @Test func loadWithTheProcessEnvironmentAndHostName() throws {
            let directory = try TemporaryDirectory()
            let path = try directory.write("connector.yaml", ConfigFixture.connector())
            let configuration = try IngestConfiguration.load(path: path)
            #expect(configuration.sources[0].mqtt.clientIDIsDerived)
            #expect(!IngestConfiguration.currentHostName().isEmpty)
            #expect(IngestConfiguration.processEnvironment()["PATH"] == ProcessInfo.processInfo.environment["PATH"])
        }

        @Test func loadOfAMissingFile() throws {
            let directory = try TemporaryDirectory()
            let path = directory.path + "/absent.yaml"
            #expect {
                try IngestConfiguration.load(path: path, environment: [:], hostName: "h")
            } throws: { error in
                guard let error = error as? ConfigurationError else { return false }
                return error.file == path && error.problems.count == 1
                    && error.problems[0].path == ConfigurationError.Problem.fileLevel
                    && error.problems[0].message.contains("No such file or directory")
                    && error.description.hasPrefix(path + ": ")
            }
        }

        @Test func loadOfNonYAMLContent() throws {
            let directory = try TemporaryDirectory()
            let binary = try directory.write("binary.yaml", bytes: [0xff, 0xfe, 0x00, 0x80, 0x81])
            let garbage = try directory.write("garbage.yaml", "{{{ ]]] : :\n\t- x: [\n")
            for path in [binary, garbage] {
                #expect(throws: ConfigurationError.self) {
                    try IngestConfiguration.load(path: path, environment: [:], hostName: "h")
                }
                do {
                    _ = try IngestConfiguration.load(path: path, environment: [:], hostName: "h")
                } catch {
                    #expect(error.file == path)
                    #expect(error.problems.count == 1)
                    #expect(error.problems.first?.path == ConfigurationError.Problem.fileLevel)
                }
            }
        }

        @Test func loadSetsTheFileOnEveryError() throws {
            let directory = try TemporaryDirectory()
            let path = try directory.write("bad.yaml", ConfigFixture.connector(config: ["keep_alive_secs: 1"]))
            do {
                _ = try IngestConfiguration.load(path: path, environment: [:], hostName: "h")
                Issue.record("expected an error")
            } catch {
                #expect(error.file == path)
                #expect(error.description == "\(path): config.keep_alive_secs: 1 is below the minimum 5")
            }
        }
    }
}
