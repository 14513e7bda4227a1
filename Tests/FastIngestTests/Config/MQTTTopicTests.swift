import FastIngest
import Testing

extension ConfigTests {
    @Suite struct TopicRules {
        @Test(arguments: [
            "a/+/c", "#", "a/#", "+", "$share/g/a/#", "sensors/+/temperature", "a//b", "/", "+/+", "$SYS/#",
            "$share/group-1/+", "ü/ñ",
        ])
        func validFilters(_ filter: String) {
            #expect(MQTTTopic.filterProblem(filter) == nil)
        }

        @Test(arguments: [
            "a/#/b", "a+/b", "a/b#", "", "#/a", "a/+b", "$share//a", "$share/g", "$share/g/", "$share/g+/a",
            "a\u{0}b",
        ])
        func invalidFilters(_ filter: String) {
            #expect(MQTTTopic.filterProblem(filter) != nil)
        }

        @Test func filterLengthLimitIs65535UTF8Bytes() {
            #expect(MQTTTopic.filterProblem(String(repeating: "a", count: 65535)) == nil)
            #expect(MQTTTopic.filterProblem(String(repeating: "a", count: 65536)) != nil)
            // Two bytes of UTF-8 each: 32768 × 2 = 65536 bytes.
            #expect(MQTTTopic.filterProblem(String(repeating: "é", count: 32768)) != nil)
        }

        @Test(arguments: ["a/b", "status/gw-1/offline", "$SYS/x"])
        func validNames(_ name: String) {
            #expect(MQTTTopic.nameProblem(name) == nil)
        }

        @Test(arguments: ["a/+", "a/#", "", "+", "a\u{0}"])
        func invalidNames(_ name: String) {
            #expect(MQTTTopic.nameProblem(name) != nil)
        }

        @Test func sharedGroupRules() {
            #expect(MQTTTopic.shareGroupProblem("ingest") == nil)
            #expect(MQTTTopic.shareGroupProblem("") != nil)
            #expect(MQTTTopic.shareGroupProblem("a/b") != nil)
            #expect(MQTTTopic.shareGroupProblem("a+") != nil)
        }
    }
}
