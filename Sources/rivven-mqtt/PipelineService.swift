import FastIngest
import ServiceLifecycle
import Synchronization

/// The ingest pipeline as a `Service`: its blocking `run()` on a thread of its own; a graceful shutdown asks it to
/// stop (stop reading, drain, acknowledge, DISCONNECT, writer, forwarder), and `run()` returns when it has. A
/// cancellation (the group's drain timeout) returns at once with ``DrainTimedOut`` while the drain goes on.
struct PipelineService: Service {
    /// The graceful drain did not finish before the service group's deadline.
    struct DrainTimedOut: Error {}

    let pipeline: IngestPipeline

    func run() async throws {
        let pipeline = self.pipeline
        let outcome = Outcome()
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    outcome.install(continuation)
                    _ = DriverThread(name: "pipeline") {
                        do throws(PipelineError) {
                            try pipeline.run()
                            outcome.finish(.success(()))
                        } catch {
                            outcome.finish(.failure(error))
                        }
                    }
                }
            } onCancel: {
                pipeline.stop()
                outcome.finish(.failure(DrainTimedOut()))
            }
        } onGracefulShutdown: {
            pipeline.stop()
        }
    }

    /// Resumes the continuation exactly once, with whichever result comes first (the pipeline's end or a
    /// cancellation that may race it, even before the continuation exists).
    private final class Outcome: Sendable {
        private let state = Mutex<(CheckedContinuation<Void, any Error>?, Result<Void, any Error>?, done: Bool)>(
            (nil, nil, false)
        )

        func install(_ continuation: CheckedContinuation<Void, any Error>) {
            let early: Result<Void, any Error>? = state.withLock { state in
                guard let result = state.1 else {
                    state.0 = continuation
                    return nil
                }
                state.done = true
                return result
            }
            if let early { continuation.resume(with: early) }
        }

        func finish(_ result: Result<Void, any Error>) {
            let waiting: CheckedContinuation<Void, any Error>? = state.withLock { state in
                guard !state.done, state.1 == nil else { return nil }
                guard let continuation = state.0 else {
                    state.1 = result
                    return nil
                }
                state.done = true
                state.0 = nil
                return continuation
            }
            waiting?.resume(with: result)
        }
    }
}
