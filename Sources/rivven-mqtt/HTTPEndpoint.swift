import FastIngest
import NIOHTTP1

/// What the metrics endpoint answers (SPEC §7), as a pure function of the request line and the pipeline's state:
/// `GET /metrics` (Prometheus text), `GET /metrics.json` (the snapshot), `GET /health`, `GET /ready`.
struct HTTPEndpoint: Sendable {
    /// One response.
    struct Reply: Equatable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: String
        /// The `Allow` header of a 405.
        var allow: String?
    }

    /// The paths served, for the 404 body.
    static let paths = ["/metrics", "/metrics.json", "/health", "/ready"]
    static let jsonType = "application/json; charset=utf-8"

    let exposition: PrometheusExposition
    let snapshot: @Sendable () -> IngestMetricsSnapshot
    let readiness: @Sendable () -> (ready: Bool, reasons: [String])

    /// The reply to `method` on `uri` (a query string is ignored).
    func reply(method: HTTPMethod, uri: String) -> Reply {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        guard let path, Self.paths.contains(path) else {
            let body = JSONValue.object([
                ("error", .string("not found")), ("paths", .array(Self.paths.map { .string($0) })),
            ])
            return Reply(status: .notFound, contentType: Self.jsonType, body: body.compact + "\n")
        }
        guard method == .GET else {
            let body = JSONValue.object([("error", .string("method not allowed; use GET"))])
            return Reply(status: .methodNotAllowed, contentType: Self.jsonType, body: body.compact + "\n", allow: "GET")
        }
        switch path {
        case "/metrics":
            return Reply(
                status: .ok,
                contentType: PrometheusExposition.contentType,
                body: exposition.render(snapshot())
            )
        case "/metrics.json":
            return Reply(status: .ok, contentType: Self.jsonType, body: snapshot().json + "\n")
        case "/health":
            return Reply(status: .ok, contentType: Self.jsonType, body: #"{"status":"ok"}"# + "\n")
        default:
            let (ready, reasons) = readiness()
            if ready {
                return Reply(status: .ok, contentType: Self.jsonType, body: #"{"ready":true}"# + "\n")
            }
            let body = JSONValue.object([("ready", .bool(false)), ("reasons", .array(reasons.map { .string($0) }))])
            return Reply(status: .serviceUnavailable, contentType: Self.jsonType, body: body.compact + "\n")
        }
    }
}
