import Logging

/// With `debug: true`, one line per finished request: endpoint, dialect,
/// model, provider, credential (its label, never its key), status, times and
/// tokens — what to read first when a client says "it hangs" or "it is slow".
/// The line is built only while debug is on (`Logger.debug` takes an
/// autoclosure and the level is checked first).
struct RequestDebugLog: RequestObserver {
    let logger: Logger

    func requestFinished(_ r: RequestReport) {
        logger.debug("""
            finished \(r.endpoint) dialect=\(r.dialect) model=\(r.model.isEmpty ? "-" : r.model) \
            provider=\(r.provider.isEmpty ? "-" : r.provider) credential=\(r.credential.isEmpty ? "-" : r.credential) \
            status=\(r.status)\(r.stream ? " stream" : "") total_ms=\(r.total / 1_000_000) \
            upstream_ms=\(r.upstreamTotal / 1_000_000) first_byte_ms=\(r.upstreamFirstByte.map { String($0 / 1_000_000) } ?? "-") \
            tokens=\(r.usage.map { "\($0.input)/\($0.output)" } ?? "-")
            """)
    }
}
