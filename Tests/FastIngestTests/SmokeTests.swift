import FastIngest
import Testing

@Test func versionIsSet() { #expect(!FastIngest.version.isEmpty) }
