/// FastIngest: the MQTT → local log / Rivven ingest pipeline behind `rivven-mqtt`.
public enum FastIngest {
    /// The product version, printed by `rivven-mqtt version`.
    public static let version = "0.1.0"
}

extension FastIngest {
    /// The linked libmosquitto version.
    public static var mosquittoVersion: String { MosquittoLibrary.version }
}
