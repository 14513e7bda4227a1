import Testing

@testable import FastIngest

@Suite("TopicRouter")
struct MappingTopicRouterTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var template: String?
        var topic: [UInt8]
        /// The Rivven topic, or nil when routing must fail.
        var routed: String?
        /// Words the failure reason must contain.
        var reasonContains: [String]

        init(_ template: String?, _ topic: String, _ routed: String) {
            self.template = template
            self.topic = Array(topic.utf8)
            self.routed = routed
            self.reasonContains = []
        }

        init(_ template: String?, _ topic: String, fails reasonContains: [String]) {
            self.init(template, bytes: Array(topic.utf8), fails: reasonContains)
        }

        init(_ template: String?, bytes: [UInt8], fails reasonContains: [String]) {
            self.template = template
            self.topic = bytes
            self.routed = nil
            self.reasonContains = reasonContains
        }

        var testDescription: String {
            let shown = topic.count > 40 ? "\(topic.count) bytes" : String(decoding: topic, as: UTF8.self)
            return "\(template ?? "<static>") ← \(shown)"
        }
    }

    static let long255 = String(repeating: "a", count: 127) + "/" + String(repeating: "b", count: 127)
    static let long256 = String(repeating: "a", count: 128) + "/" + String(repeating: "b", count: 127)

    static let routed: [Case] = [
        Case("iot.{1}", "sensors/room1/temp", "iot.sensors"),
        Case("iot.{1}", "sensors", "iot.sensors"),
        Case("{topic}", "sensors/room1/temp", "sensors.room1.temp"),
        Case("{topic}", "single", "single"),
        Case("iot.{topic}", "a/b", "iot.a.b"),
        Case("x.{2}.{3}", "a/b/c", "x.b.c"),
        Case("x.{2}.{3}", "a/b/c/d/e", "x.b.c"),
        Case("{3}-{1}_{2}", "a/b/c", "c-a_b"),
        Case("a{1}{1}", "x/y", "axx"),
        Case("iot.{1}.", "a", "iot.a."),
        Case("{2}", "site-1/Room_2/x", "Room_2"),
        Case("{1}", "a.b/c", "a.b"),
        Case("{topic}", long255, String(repeating: "a", count: 127) + "." + String(repeating: "b", count: 127)),
        Case("{12}", "1/2/3/4/5/6/7/8/9/10/11/12", "12"),
        Case(nil, "sensors/room1", "iot-events"),
        Case(nil, "a//b", "iot-events"),
        Case(nil, "/", "iot-events"),
        Case(nil, "bad topic é/+/#", "iot-events"),
    ]

    static let failing: [Case] = [
        Case("x.{2}.{3}", "a/b", fails: ["needs level 3", "`a/b` has 2 levels"]),
        Case("iot.{2}", "sensors", fails: ["needs level 2", "has 1 level"]),
        Case("iot.{2}", "a//c", fails: ["level 2", "empty", "`a//c`"]),
        Case("iot.{2}", "a/", fails: ["level 2", "empty"]),
        Case("{1}", "/a", fails: ["level 1", "empty"]),
        Case("{topic}", "/a/b", fails: ["`.a.b`", "must start with a letter or a digit"]),
        Case("{topic}", "a//b", fails: ["`a..b`", "cannot contain `..`"]),
        Case("x.{topic}", "/a", fails: ["`x..a`", "`..`"]),
        Case("{1}", "a..b/c", fails: ["`..`"]),
        Case("{1}", "-x/y", fails: ["must start with a letter or a digit"]),
        Case("{1}", "_x/y", fails: ["must start with a letter or a digit"]),
        Case("iot.{1}", "a b/c", fails: ["`iot.a b`", "only letters, digits"]),
        Case("iot.{1}", "été/x", fails: ["only letters, digits"]),
        Case("iot.{1}", "a+b", fails: ["`+`"]),
        Case("{topic}", "$SYS/broker", fails: ["`$`"]),
        Case("iot.{1}", bytes: [0x61, 0xFF, 0x2F, 0x62], fails: ["only letters, digits"]),
        Case("{topic}", long256, fails: ["256 characters", "at most 255"]),
        Case("iot.{topic}", String(repeating: "x/", count: 40_000), fails: ["characters", "(80000 bytes)"]),
    ]

    @Test(arguments: routed + failing)
    func route(_ row: Case) throws {
        let router = try TopicRouter(staticTopic: "iot-events", template: row.template)
        let result = MappingTestSupport.route(router, row.topic)
        switch (result, row.routed) {
        case (.success(let topic), .some(let expected)):
            #expect(topic == expected)
            #expect(RivvenTopicName.problem(topic) == nil, "routed to an invalid name")
        case (.failure(let failure), .none):
            for words in row.reasonContains {
                #expect(failure.reason.contains(words), "reason: \(failure.reason)")
            }
            if let template = row.template {
                #expect(failure.reason.contains("topic_routing `\(template)`"), "reason: \(failure.reason)")
            }
        case (.success(let topic), .none):
            Issue.record("expected a failure, routed to \(topic)")
        case (.failure(let failure), .some(let expected)):
            Issue.record("expected \(expected), failed: \(failure.reason)")
        }
    }

    /// A trailing `.` is allowed by the Rivven rule, unlike a leading one or `..`.
    @Test func trailingDotIsValid() throws {
        let router = try TopicRouter(staticTopic: "iot-events", template: "{topic}")
        #expect(MappingTestSupport.route(router, Array("a/b/".utf8)) == .success("a.b."))
    }

    @Test func routesAppendAfterExistingBytes() throws {
        let router = try TopicRouter(staticTopic: "iot-events", template: "iot.{1}")
        var out: [UInt8] = []
        for topic in ["a/x", "bb/x", "a/x"] {
            let before = out.count
            let result = Array(topic.utf8).withUnsafeBytes { router.route(topic: $0, into: &out) }
            #expect(result == .routed)
            #expect(out.count > before)
        }
        #expect(String(decoding: out, as: UTF8.self) == "iot.aiot.bbiot.a")
    }

    @Test(arguments: [
        ("iot/{1}", "`/` can never be part"),
        ("{0}", "unknown placeholder"),
        ("{x}", "unknown placeholder"),
        ("iot.{1", "unclosed"),
        ("iot.}", "without a matching"),
        ("", "empty"),
        (".{1}", "must start with a letter"),
    ])
    func badTemplatesAreRejected(_ template: String, _ words: String) {
        #expect {
            _ = try TopicRouter(staticTopic: "iot-events", template: template)
        } throws: { error in
            let mapping = error as? MappingError
            return mapping?.code == .invalidTemplate && mapping!.message.contains(words)
        }
    }

    @Test(arguments: ["", "a/b", "..x", "x..y", ".x", String(repeating: "a", count: 256), "été"])
    func badStaticTopicsAreRejected(_ topic: String) {
        #expect {
            _ = try TopicRouter(staticTopic: topic, template: "{1}")
        } throws: { error in
            (error as? MappingError)?.code == .invalidTopicName
        }
    }

    /// The byte-level name check agrees with the configuration's (String) check.
    @Test(arguments: [
        "a", "Z9", "iot-events", "iot.sensors", "a_b", "a-", "a.", "a.b.c",
        String(repeating: "x", count: 255), String(repeating: "x", count: 256),
        "", ".a", "_a", "-a", "a..b", "a/b", "a b", "a+b", "é", "a\u{0}", "a:b", "..",
    ])
    func nameCheckMatchesConfiguration(_ name: String) {
        let bytes = Array(name.utf8)
        let valid = bytes.withUnsafeBytes { TopicRouter.isValidRivvenTopic($0) }
        #expect(valid == (RivvenTopicName.problem(name) == nil))
    }

    @Test func levels() {
        func level(_ number: Int, _ topic: String) -> String? {
            Array(topic.utf8).withUnsafeBytes { bytes in
                TopicRouter.level(number, of: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
            }
        }
        #expect(level(1, "a/b/c") == "a")
        #expect(level(3, "a/b/c") == "c")
        #expect(level(4, "a/b/c") == nil)
        #expect(level(1, "") == "")
        #expect(level(2, "a/") == "")
        #expect(level(2, "/") == "")
        #expect(level(3, "/") == nil)
    }
}
