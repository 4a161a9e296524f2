import Accounts
import Crypto
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import RuleEngine
#if canImport(Glibc)
import Glibc
#endif

/// The credential-file routes (reference §3.6) and the cooldown reset
/// (§3.8 `reset-quota`): list with status and cooldowns, upload, download,
/// delete, enable/disable. Files are written atomically with mode 0600
/// through ``AuthDirectory`` and the accounts are reloaded before the reply,
/// so an uploaded account serves the next request. Token values are never
/// returned, and absolute paths only to loopback callers.
struct CredentialFiles: Sendable {
    let store: ServerStateStore
    let reloader: Reloader
    let logger: Logger

    var directory: AuthDirectory { AuthDirectory(path: store.state.config.authDirPath) }

    /// `auth_index`: 16 hex digits, the first 8 bytes of SHA-256 over the file name.
    static func index(_ name: String) -> String {
        SHA256.hash(data: Array(name.utf8)).prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// A file name the routes accept: a plain `*.json` name.
    static func check(_ name: String?) -> Response? {
        guard let name, !name.isEmpty else { return Reply.error(400, "invalid name") }
        if name.contains("/") || name.contains("\\") || name.hasPrefix(".") || name.contains("\0") { return Reply.error(400, "invalid name") }
        if !name.hasSuffix(".json") { return Reply.error(400, "name must end with .json") }
        return nil
    }

    /// The credential ids (one per account, more for expanded Gemini projects)
    /// and their current cooldowns.
    func cooldowns(_ state: ServerState, account: String) -> (ids: [String], cooling: [(model: String, secondsLeft: Double, reason: String)]) {
        let ids = state.router.credentials.filter { $0.accountFile == account }.map(\.id)
        let snap = store.health.snapshot(now: Clock.nanoseconds())
        return (ids, snap.filter { ids.contains($0.credential) }.map { ($0.model, $0.secondsLeft, $0.reason) })
    }

    func list(remote: Bool) -> Response {
        let state = store.state
        let now = Double(Clock.unixSeconds())
        let accounts = Dictionary((state.accounts?.accounts ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var files: [JSONValue] = []
        for name in directory.fileNames() {
            var o: [String: JSONValue] = ["name": .string(name), "id": .string(name), "auth_index": .string(Self.index(name)), "source": .string("file")]
            let path = directory.path + "/" + name
            var st = stat()
            if stat(path, &st) == 0 {
                o["size"] = .number(Double(st.st_size))
                o["modtime"] = .string(RFC3339.format(Double(st.st_mtim.tv_sec)))
            }
            if !remote { o["path"] = .string(path) }
            guard let account = accounts[name] else {
                // Not an account: say why (it is skipped by the server).
                let reason: String
                if let bytes = directory.read(name), case .failure(let p) = CredentialFile.parse(name: name, bytes: bytes) {
                    reason = p.reason
                } else { reason = "cannot be read" }
                o["status"] = .string("error"); o["status_message"] = .string(reason); o["unavailable"] = .bool(true)
                files.append(.object(o)); continue
            }
            let file = account.file
            o["type"] = .string(file.kind.rawValue)
            o["provider"] = .string(file.kind.provider)
            if let e = file.email { o["email"] = .string(e); o["account"] = .string(e) }
            if let l = file.label { o["label"] = .string(l) }
            o["disabled"] = .bool(file.disabled)
            o["priority"] = .number(Double(file.priority))
            o["account_type"] = .string("oauth")
            if let exp = file.expiry { o["expires_at"] = .string(RFC3339.format(exp)) }
            if let lr = file.json["last_refresh"]?.string { o["last_refresh"] = .string(lr) }
            var needsLogin = false
            var status = "active", message = ""
            switch account.status {
            case .ready: break
            case .failed(let reason, let retryAt):
                status = "error"; message = reason
                o["refresh_retry_at"] = .string(RFC3339.format(retryAt))
            case .needsLogin(let reason):
                status = "error"; message = reason; needsLogin = true
            }
            if file.disabled { status = "disabled" }
            o["status"] = .string(status)
            o["status_message"] = .string(message)
            o["needs_login"] = .bool(needsLogin)
            o["unavailable"] = .bool(!account.isUsable(now: now))
            let (_, cooling) = cooldowns(state, account: name)
            o["cooldowns"] = .array(cooling.sorted { $0.model < $1.model }.map { c in
                .object(["model": .string(c.model), "reason": .string(c.reason),
                         "seconds_left": .number((c.secondsLeft * 10).rounded() / 10),
                         "until": .string(RFC3339.format(now + c.secondsLeft))])
            })
            if let longest = cooling.map(\.secondsLeft).max() { o["next_retry_after"] = .string(RFC3339.format(now + longest)) }
            files.append(.object(o))
        }
        return Reply.json(200, .object(["files": .array(files)]))
    }

    func download(_ req: Request) -> Response {
        let name = req.uri.queryParameters["name"].map(String.init)
        if let bad = Self.check(name) { return bad }
        guard let bytes = directory.read(name!) else { return Reply.error(404, "file not found") }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        headers[.contentDisposition] = "attachment; filename=\"\(name!)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `POST /auth-files?name=<file.json>` with the JSON as the body, or a
    /// `multipart/form-data` body whose `file` parts carry the files.
    func upload(_ req: Request) async -> Response {
        guard state.accounts != nil else { return Reply.error(503, "core auth manager unavailable") }
        let body: [UInt8]
        switch await Reply.body(req, limit: ManagementRoutes.maxCredentialBytes * 4) {
        case .success(let b): body = b
        case .failure(let r): return r.response
        }
        var parts: [(name: String?, bytes: [UInt8])] = []
        if let type = req.headers[values: .contentType].first(where: { $0.lowercased().hasPrefix("multipart/form-data") }) {
            guard let boundary = Multipart.boundary(type) else { return Reply.error(400, "invalid body", message: "multipart body without a boundary") }
            parts = Multipart.files(body, boundary: boundary)
            if parts.isEmpty { return Reply.error(400, "invalid body", message: "no `file` part in the upload") }
        } else {
            parts = [(req.uri.queryParameters["name"].map(String.init), body)]
        }
        var uploaded: [String] = []
        var failed: [JSONValue] = []
        for part in parts {
            if let problem = store(name: part.name, bytes: part.bytes) {
                if parts.count == 1 { return problem.response }
                failed.append(.object(["name": .string(part.name ?? ""), "error": .string(problem.message)]))
            } else {
                uploaded.append(part.name!)
            }
        }
        if !uploaded.isEmpty { reloader.reloadAccounts(state.accounts!) }
        if failed.isEmpty {
            return Reply.json(200, .object(["status": .string("ok"), "uploaded": .number(Double(uploaded.count)), "files": .array(uploaded.map { .string($0) })]))
        }
        return Reply.json(uploaded.isEmpty ? 400 : 207, .object(["status": .string(uploaded.isEmpty ? "error" : "partial"), "uploaded": .number(Double(uploaded.count)),
                                                               "files": .array(uploaded.map { .string($0) }), "failed": .array(failed)]))
    }

    var state: ServerState { store.state }

    /// Checks and writes one uploaded file; the refusal when it is not a credential file.
    private func store(name: String?, bytes: [UInt8]) -> (response: Response, message: String)? {
        if let bad = Self.check(name) {
            return (bad, name.map { $0.hasSuffix(".json") ? "invalid name" : "name must end with .json" } ?? "invalid name")
        }
        if bytes.count > ManagementRoutes.maxCredentialBytes {
            let m = "a credential file is at most \(ManagementRoutes.maxCredentialBytes) bytes"
            return (Reply.error(413, "file too large", message: m), m)
        }
        if case .failure(let p) = CredentialFile.parse(name: name!, bytes: bytes) {
            return (Reply.error(400, "invalid credential file", message: p.reason), p.reason)
        }
        do { try directory.write(name: name!, bytes: bytes) } catch {
            return (Reply.error(500, "write_failed", message: error.description), error.description)
        }
        logger.info("management: credential file \(name!) uploaded")
        return nil
    }

    /// `DELETE /auth-files?name=…`, `?all=true`, or a JSON body `{"name"}`,
    /// `{"names":[…]}` or `["a.json", …]`.
    func delete(_ req: Request) async -> Response {
        guard let accounts = state.accounts else { return Reply.error(503, "core auth manager unavailable") }
        let q = req.uri.queryParameters
        var names: [String] = []
        if let all = q["all"].map(String.init), ["true", "1", "*"].contains(all) {
            names = directory.fileNames()
            for n in names { unlink(directory.path + "/" + n) }
            reloader.reloadAccounts(accounts)
            return Reply.json(200, .object(["status": .string("ok"), "deleted": .number(Double(names.count))]))
        }
        if let n = q["name"] { names = [String(n)] } else if case .success(let json) = await Reply.jsonBody(req) {
            if let n = json["name"]?.string { names = [n] }
            else if let list = json["names"]?.array ?? json.array { names = list.compactMap(\.string) }
        }
        guard !names.isEmpty else { return Reply.error(400, "invalid name") }
        for n in names { if let bad = Self.check(n) { return bad } }
        var deleted = 0
        var failed: [JSONValue] = []
        for n in names {
            if unlink(directory.path + "/" + n) == 0 { deleted += 1 } else { failed.append(.object(["name": .string(n), "error": .string("file not found")])) }
        }
        reloader.reloadAccounts(accounts)
        if deleted == 0 { return Reply.error(404, "file not found") }
        if !failed.isEmpty {
            return Reply.json(207, .object(["status": .string("partial"), "deleted": .number(Double(deleted)), "failed": .array(failed)]))
        }
        return Reply.json(200, .object(["status": .string("ok"), "deleted": .number(Double(deleted))]))
    }

    /// `PATCH /auth-files/status` `{"name","disabled"}`: sets `disabled` in the file.
    func setStatus(_ req: Request) async -> Response {
        guard let accounts = state.accounts else { return Reply.error(503, "core auth manager unavailable") }
        guard case .success(let json) = await Reply.jsonBody(req), let disabled = json["disabled"]?.bool else {
            return Reply.error(400, "invalid body")
        }
        let name = json["name"]?.string
        if let bad = Self.check(name) { return bad }
        guard let bytes = directory.read(name!), var value = JSONValue.parse(bytes), value.object != nil else {
            return Reply.error(404, "auth file not found")
        }
        value.set("disabled", .bool(disabled))
        do { try directory.write(name: name!, bytes: value.pretty() + [0x0A]) } catch {
            return Reply.error(500, "write_failed", message: error.description)
        }
        reloader.reloadAccounts(accounts)
        logger.info("management: credential file \(name!) \(disabled ? "disabled" : "enabled")")
        return Reply.json(200, .object(["status": .string("ok"), "disabled": .bool(disabled)]))
    }

    /// `POST /reset-quota` `{"auth_index"}` or `{"name"}`: clears every
    /// cooldown of that account → `{"status":"ok","auth_index","name","models":[…]}`.
    func resetCooldowns(_ req: Request) async -> Response {
        guard case .success(let json) = await Reply.jsonBody(req) else { return Reply.error(400, "invalid body") }
        let byIndex = json["auth_index"]?.string, byName = json["name"]?.string
        guard byIndex != nil || byName != nil else { return Reply.error(400, "auth_index is required") }
        let s = state
        guard let name = (s.accounts?.accounts ?? []).map(\.id).first(where: { $0 == byName || Self.index($0) == byIndex }) else {
            return Reply.error(404, "auth not found")
        }
        let (ids, cooling) = cooldowns(s, account: name)
        for id in ids { store.health.reset(credential: id) }
        logger.info("management: cooldowns of \(name) cleared (\(cooling.count))")
        return Reply.json(200, .object(["status": .string("ok"), "auth_index": .string(Self.index(name)), "name": .string(name),
                                        "models": .array(Array(Set(cooling.map(\.model))).sorted().map { .string($0) })]))
    }
}

/// Just enough `multipart/form-data` for credential uploads: the parts whose
/// field is `file`, with their file names.
enum Multipart {
    static func boundary(_ contentType: String) -> String? {
        for param in contentType.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let b = kv[1].hasPrefix("\"") && kv[1].hasSuffix("\"") && kv[1].count >= 2 ? String(kv[1].dropFirst().dropLast()) : kv[1]
                return b.isEmpty ? nil : b
            }
        }
        return nil
    }

    static func files(_ body: [UInt8], boundary: String) -> [(name: String?, bytes: [UInt8])] {
        let delimiter = Array("--\(boundary)".utf8)
        var out: [(String?, [UInt8])] = []
        var starts: [Int] = []
        var i = 0
        while i + delimiter.count <= body.count {
            if body[i] == delimiter[0] && Array(body[i..<i + delimiter.count]) == delimiter { starts.append(i); i += delimiter.count } else { i += 1 }
        }
        for (n, s) in starts.enumerated() where n + 1 < starts.count {
            var part = Array(body[(s + delimiter.count)..<starts[n + 1]])
            if part.starts(with: [0x0D, 0x0A]) { part.removeFirst(2) }
            if part.count >= 2, part[part.count - 2] == 0x0D, part[part.count - 1] == 0x0A { part.removeLast(2) }
            guard let split = find(part, [0x0D, 0x0A, 0x0D, 0x0A]) else { continue }
            let head = String(decoding: part[..<split], as: UTF8.self)
            let content = Array(part[(split + 4)...])
            guard let disposition = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-disposition") }) else { continue }
            let d = String(disposition)
            guard param(d, "name") == "file" else { continue }
            out.append((param(d, "filename"), content))
        }
        return out
    }

    static func param(_ header: String, _ key: String) -> String? {
        for p in header.split(separator: ";").dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            if kv.count == 2, kv[0].lowercased() == key {
                return kv[1].hasPrefix("\"") && kv[1].hasSuffix("\"") && kv[1].count >= 2 ? String(kv[1].dropFirst().dropLast()) : kv[1]
            }
        }
        return nil
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<i + needle.count]) == needle { return i }
        return nil
    }
}
