import Hummingbird

/// Runs the rest of the request (routing, the handler, the upstream call up
/// to the response head) in a child task; the connection's own task then
/// writes the response body.
///
/// Why: a Swift task keeps the memory of its deepest async call stack until
/// it ends (the runtime's task allocator frees its slabs only then), and the
/// connection's task lives as long as the keep-alive connection. The request
/// path reaches about 30 KB of async frames (`Attempts.run` alone is 12.6 KB),
/// which every open stream held for its whole life: ~30 MB at 1,000 streams.
/// A child task hands that memory back as soon as the response is ready;
/// the stream itself then runs on the connection task's small stack. Measured
/// in docs/RELIABILITY.md, "Load".
///
/// The child is an `async let`: cancellation, priority and task-local values
/// (the request's logger) carry over as before.
struct RequestInChildTask<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await withoutActuallyEscaping(next) { next in
            // The parent waits for the child, so `next` never runs beside it.
            let call = UncheckedSendable(next)
            async let response = call.value(request, context)
            return try await response
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
