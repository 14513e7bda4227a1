import FastIngest
import Testing

extension ConfigTests {
    @Suite struct BrokerURLParsing {
        struct Good: Sendable, CustomTestStringConvertible {
            var text: String
            var useTLS: Bool
            var host: String
            var port: Int
            var testDescription: String { text }
        }

        static let good: [Good] = [
            Good(text: "mqtt://broker.local", useTLS: false, host: "broker.local", port: 1883),
            Good(text: "tcp://broker.local", useTLS: false, host: "broker.local", port: 1883),
            Good(text: "mqtts://broker.local", useTLS: true, host: "broker.local", port: 8883),
            Good(text: "ssl://broker.local", useTLS: true, host: "broker.local", port: 8883),
            Good(text: "tls://broker.local", useTLS: true, host: "broker.local", port: 8883),
            Good(text: "MQTTS://Broker.Example.com:443", useTLS: true, host: "Broker.Example.com", port: 443),
            Good(text: "mqtt://10.1.2.3:1884", useTLS: false, host: "10.1.2.3", port: 1884),
            Good(text: "mqtt://[::1]:1883", useTLS: false, host: "::1", port: 1883),
            Good(text: "mqtts://[fe80::1]", useTLS: true, host: "fe80::1", port: 8883),
            Good(text: "mqtt://localhost:1", useTLS: false, host: "localhost", port: 1),
            Good(text: "mqtt://localhost:65535", useTLS: false, host: "localhost", port: 65535),
            Good(text: "mqtt://broker.hivemq.com:1883/", useTLS: false, host: "broker.hivemq.com", port: 1883),
            Good(text: "broker.local:1999", useTLS: false, host: "broker.local", port: 1999),
        ]

        @Test(arguments: good)
        func parsesValidURLs(_ good: Good) throws {
            let url = try BrokerURL.parse(good.text)
            #expect(url.useTLS == good.useTLS)
            #expect(url.host == good.host)
            #expect(url.port == good.port)
            #expect(url.original == good.text)
            #expect(url.description == good.text)
        }

        struct Bad: Sendable, CustomTestStringConvertible {
            var text: String
            var code: BrokerURLError.Code
            var mentions: String
            var testDescription: String { text }
        }

        static let bad: [Bad] = [
            Bad(text: "http://broker.local", code: .badScheme, mentions: "`http`"),
            Bad(text: "ws://broker.local:80", code: .badScheme, mentions: "mqtts://"),
            Bad(text: "mqtt://", code: .missingHost, mentions: "host is missing"),
            Bad(text: "mqtt://:1883", code: .missingHost, mentions: "host is missing"),
            Bad(text: "", code: .missingHost, mentions: "empty"),
            Bad(text: "mqtt://broker:0", code: .badPort, mentions: "port 0"),
            Bad(text: "mqtt://broker:65536", code: .badPort, mentions: "port 65536"),
            Bad(text: "mqtt://broker:abc", code: .badPort, mentions: "`abc`"),
            Bad(text: "mqtt://broker:", code: .badPort, mentions: "empty"),
            Bad(text: "mqtt://broker:1883/x", code: .path, mentions: "`/x`"),
            Bad(text: "mqtt://broker:1883?a", code: .query, mentions: "query"),
            Bad(text: "mqtt://broker#frag", code: .query, mentions: "fragment"),
            Bad(text: "mqtt://[::1:1883", code: .badHost, mentions: "unclosed '['"),
            Bad(text: "mqtt://::1:1883", code: .badHost, mentions: "brackets"),
            Bad(text: "mqtt://[nothex]:1883", code: .badHost, mentions: "not an IPv6 address"),
            Bad(text: "mqtt://bro ker", code: .badHost, mentions: "whitespace"),
            Bad(text: "mqtt://bro!ker", code: .badHost, mentions: "`!`"),
        ]

        @Test(arguments: bad)
        func rejectsBadURLsNamingTheURLAndTheProblem(_ bad: Bad) {
            #expect {
                try BrokerURL.parse(bad.text)
            } throws: { error in
                guard let error = error as? BrokerURLError else { return false }
                return error.code == bad.code && error.description.contains("`\(bad.text)`")
                    && error.description.contains(bad.mentions)
            }
        }

        @Test func badSchemeListsTheAcceptedSchemes() {
            #expect {
                try BrokerURL.parse("amqp://broker")
            } throws: { error in
                let text = "\(error)"
                return ["mqtt://", "tcp://", "mqtts://", "ssl://", "tls://"].allSatisfy(text.contains)
            }
        }

        @Test func userInfoIsRejectedWithoutEchoingThePassword() {
            #expect {
                try BrokerURL.parse("mqtt://alice:hunter2@broker:1883")
            } throws: { error in
                guard let error = error as? BrokerURLError else { return false }
                return error.code == .userInfo && !error.description.contains("hunter2")
                    && error.description.contains("mqtt://***@broker:1883")
            }
        }

        @Test func canonicalInitializerFillsDefaultPorts() {
            #expect(BrokerURL(useTLS: true, host: "h").port == 8883)
            #expect(BrokerURL(useTLS: false, host: "::1").original == "mqtt://[::1]:1883")
        }
    }
}
