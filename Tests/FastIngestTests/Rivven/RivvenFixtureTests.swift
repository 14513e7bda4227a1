import FastIngest
import Foundation
import Testing

/// Replays every frame of `shared/rivven/fixtures`: decode → the sidecar's fields, sidecar fields → encode → the same
/// bytes, and decode → encode → the same bytes.
@Suite("Rivven fixtures")
struct RivvenFixtureTests {
    @Test("the fixture directory is there and complete")
    func directoryIsComplete() throws {
        let directory = try #require(
            RivvenShared.fixturesDirectory,
            "shared/rivven/fixtures not found next to the repository or at /work/shared"
        )
        let index = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "/INDEX.json")))
        let indexed = try #require(index.arrayValue).compactMap { $0["file"]?.stringValue }
        #expect(indexed.count == 98)
        let files = Set(RivvenFixture.fileNames)
        for name in indexed { #expect(files.contains(name), "INDEX.json lists \(name), which is missing") }
        // The three reference-encoded extras (S01–S03) are not in INDEX.json.
        #expect(files.count == indexed.count + 3)
        let golden = try RivvenFixture.all().filter(\.isGolden)
        #expect(golden.count == 49)
        #expect(golden.allSatisfy { $0.isClientToServer })
    }

    @Test("header: length prefix, format, correlation id", arguments: RivvenFixture.testArguments)
    func header(_ name: String) throws {
        let fixture = try RivvenFixture.load(name)
        let frame = try RivvenFrame.parse(fixture.frame)
        // The reference-encoded extras (S01–S03) have shorter sidecars without these keys.
        if let frameLength = fixture.sidecar["frame_len"] {
            #expect(frameLength.integerValue == Int64(fixture.frame.count))
        }
        if let lengthPrefix = fixture.sidecar["length_prefix"] {
            #expect(lengthPrefix.integerValue == Int64(fixture.frame.count - 4))
        }
        if let format = fixture.sidecar["format"] { #expect(format.integerValue == 0) }
        #expect(frame.format == 0)
        #expect(frame.correlationID == fixture.correlationID)
        #expect(hex(frame.payload) == fixture.sidecar["payload_hex"]?.stringValue ?? hex(fixture.payload))
    }

    @Test("decode gives the sidecar's variant and fields", arguments: RivvenFixture.testArguments)
    func decode(_ name: String) throws {
        let fixture = try RivvenFixture.load(name)
        let index = fixture.sidecar["variant_index"]?.unsignedValue
        if fixture.isClientToServer {
            let (correlationID, request) = try RivvenRequest.decodeFrame(fixture.frame)
            #expect(correlationID == fixture.correlationID)
            #expect(request.variantName == fixture.variant)
            #expect(UInt64(request.variantIndex) == index)
            #expect(sidecarFields(request) == fixture.fields)
            if let expect = fixture.sidecar["expect"], expect != .null {
                #expect(sidecarFields(request) == expect)
            }
        } else {
            let (correlationID, response) = try RivvenResponse.decodeFrame(fixture.frame)
            #expect(correlationID == fixture.correlationID)
            #expect(response.variantName == fixture.variant)
            #expect(UInt64(response.variantIndex) == index)
            #expect(sidecarFields(response) == fixture.fields)
        }
    }

    @Test("the sidecar's fields encode to the fixture's bytes", arguments: RivvenFixture.testArguments)
    func encodeFromSidecar(_ name: String) throws {
        let fixture = try RivvenFixture.load(name)
        let correlationID = try #require(fixture.correlationID)
        let encoded =
            fixture.isClientToServer
            ? try requestFromSidecar(variant: fixture.variant, fields: fixture.fields).frame(
                correlationID: correlationID
            )
            : try responseFromSidecar(variant: fixture.variant, fields: fixture.fields).frame(
                correlationID: correlationID
            )
        #expect(hex(encoded) == hex(fixture.frame))
    }

    @Test("decode then encode gives the same bytes", arguments: RivvenFixture.testArguments)
    func roundTrip(_ name: String) throws {
        let fixture = try RivvenFixture.load(name)
        var out: [UInt8] = [0xEE]  // something before, to check that encoding appends
        if fixture.isClientToServer {
            let (correlationID, request) = try RivvenRequest.decodeFrame(fixture.frame)
            let length = request.encode(correlationID: correlationID, into: &out)
            #expect(length == fixture.frame.count - 4)
            var payload: [UInt8] = []
            request.encodePayload(into: &payload)
            #expect(payload == fixture.payload)
            #expect(try RivvenRequest.decode(payload: fixture.payload[...]) == request)
        } else {
            let (correlationID, response) = try RivvenResponse.decodeFrame(fixture.frame)
            let length = response.encode(correlationID: correlationID, into: &out)
            #expect(length == fixture.frame.count - 4)
            var payload: [UInt8] = []
            response.encodePayload(into: &payload)
            #expect(payload == fixture.payload)
            #expect(try RivvenResponse.decode(payload: fixture.payload[...]) == response)
        }
        #expect(out.first == 0xEE)
        #expect(hex(out.dropFirst()) == hex(fixture.frame))
    }

    @Test("a fixture is refused in the other direction's decoder or decodes to a different message")
    func directionsDiffer() throws {
        // Request and response variant tables differ, so a frame read with the wrong decoder must not come back as
        // the same bytes with a different meaning unnoticed: either it fails, or it is some other variant.
        for fixture in try RivvenFixture.all() {
            if fixture.isClientToServer {
                if let (_, response) = try? RivvenResponse.decodeFrame(fixture.frame) {
                    #expect(response.variantName != fixture.variant, "\(fixture.name)")
                }
            } else if let (_, request) = try? RivvenRequest.decodeFrame(fixture.frame) {
                #expect(request.variantName != fixture.variant, "\(fixture.name)")
            }
        }
    }
}
