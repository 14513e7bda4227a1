import Testing

@testable import FastIngest

/// Both CRC-32C paths: whichever ``CRC32C/checksum(_:)`` uses on this CPU (the SSE4.2 instruction on x86-64, checked
/// by the vectors in LogFormatTests) and the software slice-by-8 kept for other CPUs, which must agree bit for bit.
@Suite("CRC32C software path")
struct CRC32CSoftwareTests {
    @Test func softwareAndActivePathsAgreeAtEveryLengthAndAlignment() {
        var generator = SplitMix64(seed: 11)
        let data = (0..<600).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<9 {
            for end in stride(from: start, through: data.count, by: 5) {
                data[start..<end].withUnsafeBytes { bytes in
                    let software = CRC32C.softwareUpdate(0, bytes)
                    #expect(software == CRC32C.checksum(bytes), "bytes \(start)..<\(end)")
                    #expect(software == LogCRC32CTests.bitwise(data[start..<end]))
                }
            }
        }
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.softwareUpdate(0, $0) } == 0xE306_9283)
    }

    @Test func continuingAChecksumAgreesAcrossPaths() {
        let data = Array("The quick brown fox jumps over the lazy dog, twice over and once more.".utf8)
        for split in 0...data.count {
            let first = data[..<split].withUnsafeBytes { CRC32C.softwareUpdate(0, $0) }
            let whole = data[split...].withUnsafeBytes { CRC32C.update(first, $0) }
            #expect(whole == CRC32C.checksum(data))
        }
    }
}
