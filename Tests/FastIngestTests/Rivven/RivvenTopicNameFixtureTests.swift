import Testing

@testable import FastIngest

/// The project's Rivven topic-name rule (`RivvenTopicName`, in Config) agrees with what the broker did in the
/// captures: every topic it created or wrote to passes, the one it refused with `INVALID_TOPIC_NAME` does not.
@Suite("Rivven topic names in the fixtures")
struct RivvenTopicNameFixtureTests {
    @Test("accepted and refused topic names")
    func fixtureTopics() throws {
        let fixtures = try RivvenFixture.all()
        try #require(!fixtures.isEmpty)
        var accepted: Set<String> = []
        var refused: Set<String> = []
        for (request, reply) in zip(fixtures, fixtures.dropFirst()) where request.isClientToServer {
            guard !reply.isClientToServer, request.correlationID == reply.correlationID else { continue }
            let name: String
            switch try RivvenRequest.decodeFrame(request.frame).request {
            case .createTopic(let topic, _), .publish(let topic, _, _, _, _), .getMetadata(let topic): name = topic
            default: continue
            }
            switch try RivvenResponse.decodeFrame(reply.frame).response {
            case .topicCreated, .published, .metadata: accepted.insert(name)
            case .error(let message) where message.hasPrefix("INVALID_TOPIC_NAME"): refused.insert(name)
            default: break
            }
        }
        #expect(accepted.count >= 5)
        #expect(refused == ["sensors/room1/temperature"])
        for name in accepted { #expect(RivvenTopicName.problem(name) == nil, "\(name)") }
        for name in refused { #expect(RivvenTopicName.problem(name) != nil, "\(name)") }
    }
}
