import Accounts
import Crypto
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProxyConfig
import RuleEngine
import UsageStore
#if canImport(Glibc)
import Glibc
#endif

/// The management API under `/v0/management` (see
/// `../shared/reference/management-api.md` §1–3 and README "Management API"):
/// the effective config and the raw config.yaml, the scalar toggles, the
/// client and upstream key lists, credential files, and cooldown resets.
///
/// Every change is validated with the config loader, written to config.yaml
/// (byte-range edits, atomic; or to the auth directory), then applied through
/// the `Reloader` before the response is sent, so the next request sees it.
struct ManagementRoutes: Sendable {
    let store: ServerStateStore
    let auth: ManagementAuth
    let reloader: Reloader
    let usage: UsageRecorder?
    let logins: LoginSessions?
    /// The request-log folder (`logs/` beside config.yaml), for the error-log routes.
    let logDirectory: String?
    let logger: Logger

    /// Largest body accepted: config.yaml and credential uploads.
    static let maxConfigBytes = 1 << 20
    static let maxCredentialBytes = 256 << 10

    /// `reloader` is the server's own (its `reload` and `reloadAccounts` apply an edit at once).
    init(store: ServerStateStore, reloader: Reloader, usage: UsageRecorder? = nil, logins: LoginSessions? = nil,
         logDirectory: String? = nil, logger: Logger, auth: ManagementAuth = ManagementAuth()) {
        self.usage = usage
        self.logDirectory = logDirectory
        self.logins = logins
        self.store = store
        self.auth = auth
        self.reloader = reloader
        self.logger = logger
    }

    /// At start-up: a plaintext management key in config.yaml is replaced by
    /// its bcrypt hash (in the file and in the running config).
    static func secureKeyAtStart(store: ServerStateStore, logger: Logger) {
        let state = store.state
        guard let hash = ManagementKey.secure(configPath: state.configPath, config: state.config, logger: logger) else { return }
        store.update { s in
            var c = s.config
            c.remoteManagement.secretKey = Secret(hash)
            return s.with(config: c, health: store.health)
        }
    }

    func register(on router: Router<ProxyContext>) {
        let g = router.group("/v0/management").add(middleware: ManagementGate(store: store, auth: auth))

        g.get("config") { _, _ in Reply.json(200, ConfigView.json(store.state.config)) }
        g.get("config.yaml") { _, _ in rawConfig() }
        g.put("config.yaml") { req, _ in await putConfig(req) }

        for s in ScalarSetting.all {
            g.get(RouterPath(s.route)) { _, _ in Reply.json(200, .object([s.getKey: s.read(store.state.config)])) }
            for method in [HTTPRequest.Method.put, .patch] {
                g.on(RouterPath(s.route), method: method) { req, _ in await setScalar(s, req) }
            }
            if s.clearable {
                g.delete(RouterPath(s.route)) { _, _ in await edit { e, _ in try e.set(s.path, .string("")) } }
            }
        }

        for list in StringList.all {
            g.get(RouterPath(list.key)) { _, _ in
                Reply.json(200, .object([list.key: .array(list.read(store.state.config).map { .string(Secret.mask($0)) })]))
            }
            g.put(RouterPath(list.key)) { req, _ in await putStrings(list, req) }
            g.patch(RouterPath(list.key)) { req, _ in await patchStrings(list, req) }
            g.delete(RouterPath(list.key)) { req, _ in await deleteString(list, req) }
        }

        for list in ObjectList.all {
            g.get(RouterPath(list.key)) { _, _ in
                Reply.json(200, .object([list.key: .array(list.read(store.state.config).map(list.masked))]))
            }
            g.put(RouterPath(list.key)) { req, _ in await putObjects(list, req) }
            g.patch(RouterPath(list.key)) { req, _ in await patchObject(list, req) }
            g.delete(RouterPath(list.key)) { req, _ in await deleteObject(list, req) }
        }

        let files = CredentialFiles(store: store, reloader: reloader, logger: logger)
        g.get("auth-files") { req, ctx in files.list(remote: !ctx.peerIsLoopback) }
        g.get("auth-files/download") { req, _ in files.download(req) }
        g.post("auth-files") { req, _ in await files.upload(req) }
        g.delete("auth-files") { req, _ in await files.delete(req) }
        g.patch("auth-files/status") { req, _ in await files.setStatus(req) }
        g.post("reset-quota") { req, _ in await files.resetCooldowns(req) }
        g.get("usage") { _, _ in usageReport() }
        g.get("usage/export") { _, _ in usageExport() }
        g.post("usage/import") { req, _ in await usageImport(req) }
        g.get("request-error-logs") { _, _ in errorLogList() }
        g.get("request-error-logs/:name") { _, ctx in errorLog(ctx.parameters.get("name") ?? "") }
        if let logins {
            // Sign-ins (§3.7). `callback_port` (a cliproxy addition) moves the
            // loopback callback off the provider's default port.
            @Sendable func port(_ req: Request) -> Int? { req.uri.queryParameters["callback_port"].flatMap { Int(String($0)) } }
            for (route, kind) in [("anthropic-auth-url", AccountKind.claude), ("codex-auth-url", .codex),
                                  ("gemini-cli-auth-url", .gemini), ("qwen-auth-url", .qwen)] {
                g.get(RouterPath(route)) { req, _ in
                    await logins.start(kind, projectID: req.uri.queryParameters["project_id"].map(String.init), callbackPort: port(req))
                }
            }
            g.get("get-auth-status") { req, _ in logins.status(req.uri.queryParameters["state"].map(String.init)) }
            g.post("oauth-callback") { req, _ in
                guard case .success(let json) = await Reply.jsonBody(req) else { return Reply.error(400, "invalid body") }
                return logins.callback(provider: json["provider"]?.string, redirectURL: json["redirect_url"]?.string,
                                       code: json["code"]?.string, state: json["state"]?.string, error: json["error"]?.string)
            }
        }

        // Any other path under the prefix: the gate first (a bare 404 while disabled), then a JSON 404.
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            g.on("**", method: method) { req, _ in Reply.error(404, "not_found", message: "no management route \(req.method) \(req.uri.path)") }
        }
    }

    // MARK: usage

    /// `GET usage`: the statistics in the reference's shape, from the SQLite
    /// database (so they include earlier runs). Off or unavailable: the same
    /// shape, empty.
    func usageReport() -> Response {
        guard let db = usage?.reader else {
            return Reply.json(200, .object(["usage": .object(["total_requests": .number(0), "success_count": .number(0),
                                                             "failure_count": .number(0), "total_tokens": .number(0),
                                                             "apis": .object([:])]),
                                            "failed_requests": .number(0)]))
        }
        do {
            try db.flush()  // what was just recorded counts too
            return Self.jsonBytes(try db.usageResponseJSON())
        } catch {
            logger.error("usage statistics could not be read: \(error)")
            return Reply.error(500, "usage_unavailable", message: "the usage database could not be read; see the server log")
        }
    }

    /// `GET usage/export`: every row within retention, details included, in
    /// the export format of the reference (`version` 1).
    func usageExport() -> Response {
        guard let db = usage?.reader else { return Reply.error(400, "usage statistics disabled") }
        do {
            return Self.jsonBytes(try db.exportJSON())
        } catch {
            logger.error("usage statistics could not be exported: \(error)")
            return Reply.error(500, "usage_unavailable", message: "the usage database could not be read; see the server log")
        }
    }

    /// `POST usage/import`: an export of cliproxy or of the existing product
    /// (version 0 or 1) merged into the database; rows already present are
    /// skipped, so importing twice adds nothing.
    ///
    /// The existing product keyed `apis` by route or by the raw client key.
    /// A raw key must not land in the database (it outlives the config), so a
    /// key that is neither a cliproxy label (`key-<hex>`, `anonymous`) nor a
    /// route (`POST /v1/…`, which has a space) is stored as its label — the
    /// same label requests with that key get.
    func usageImport(_ req: Request) async -> Response {
        guard let db = usage?.reader else { return Reply.error(400, "usage statistics disabled") }
        let body: [UInt8]
        switch await Reply.body(req, limit: 64 << 20) {
        case .success(let b): body = b
        case .failure(let r): return r.response
        }
        let records: [UsageRecord]
        do {
            records = try UsageImport.decode(body).records(key: Self.importedKeyLabel)
        } catch UsageImport.Failure.unsupportedVersion {
            return Reply.error(400, "unsupported version")
        } catch UsageImport.Failure.badTimestamp(let t) {
            return Reply.error(400, "invalid body", message: "detail timestamp is not RFC 3339: \(t.prefix(64))")
        } catch {
            return Reply.error(400, "invalid body", message: "not a usage export")
        }
        do {
            let (added, skipped) = try db.merge(records)
            let totals = try db.snapshot(detailLimit: 0)
            return Reply.json(200, .object(["added": .number(Double(added)), "skipped": .number(Double(skipped)),
                                            "total_requests": .number(Double(totals.totalRequests)),
                                            "failed_requests": .number(Double(totals.failureCount))]))
        } catch {
            logger.error("usage statistics could not be imported: \(error)")
            return Reply.error(500, "usage_unavailable", message: "the usage database could not be written; see the server log")
        }
    }

    static func importedKeyLabel(_ key: String) -> String {
        let hex = key.dropFirst(4)
        if key == "anonymous" || (key.hasPrefix("key-") && hex.count == 16 && hex.allSatisfy(\.isHexDigit)) || key.contains(" ") {
            return key
        }
        return UsageRecord.label(forKey: key)
    }

    // MARK: error logs

    /// `GET request-error-logs`: the error exchange files kept in `logs/`
    /// (written even while `request-log` is off), newest first.
    func errorLogList() -> Response {
        guard let dir = logDirectory else { return Reply.json(200, .object(["files": .array([])])) }
        let files = FileSystem.list(dir).filter(Self.isErrorLogName).sorted(by: >).map { name -> JSONValue in
            var st = stat()
            _ = stat(dir + "/" + name, &st)
            return .object(["name": .string(name), "size": .number(Double(st.st_size)), "modified": .number(Double(st.st_mtim.tv_sec))])
        }
        return Reply.json(200, .object(["files": .array(files)]))
    }

    /// `GET request-error-logs/<name>`: one file, as text.
    func errorLog(_ name: String) -> Response {
        guard Self.isErrorLogName(name) else { return Reply.error(400, "invalid name") }
        guard let dir = logDirectory, let bytes = FileSystem.readBytes(dir + "/" + name) else { return Reply.error(404, "file not found") }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentDisposition] = "attachment; filename=\"\(name)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Only the files the request log writes on errors: no path separators,
    /// no other files of the folder.
    static func isErrorLogName(_ name: String) -> Bool {
        name.hasPrefix("error-") && name.hasSuffix(".log") && !name.contains("/") && !name.contains("\\") && !name.contains("..")
    }

    static func jsonBytes(_ bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    // MARK: config.yaml

    func rawConfig() -> Response {
        guard let bytes = FileSystem.readBytes(store.state.configPath) else {
            return Reply.error(404, "not_found", message: "config file not found")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `PUT /config.yaml`: the whole file, validated by the config loader
    /// first (422 with every error otherwise; the running config is untouched).
    /// `remote-management` cannot change through the API (reference §1): a
    /// body whose `allow-remote` or `secret-key` differs from the running
    /// config (the key as `GET /config.yaml` shows it: its bcrypt hash) is
    /// refused with 422, so the API can neither open itself up nor change or
    /// drop its own key.
    func putConfig(_ req: Request) async -> Response {
        let body: [UInt8]
        switch await Reply.body(req, limit: Self.maxConfigBytes) {
        case .success(let b): body = b
        case .failure(let r): return r.response
        }
        guard let text = String(validating: body, as: UTF8.self) else {
            return Reply.error(422, "invalid_config", message: "the body is not UTF-8 text")
        }
        let path = store.state.configPath
        switch ProxyConfig.parse(text, file: "config.yaml") {
        case .failure(let e):
            return Reply.error(422, "invalid_config", message: e.description)
        case .success(let (new, _)):
            let running = store.state.config.remoteManagement
            if new.remoteManagement != running {
                return Reply.error(422, "invalid_config",
                                   message: "remote-management (allow-remote, secret-key) cannot be changed through the API; keep it as GET /config.yaml returns it and edit it in the file by hand")
            }
        }
        do {
            try ConfigFile.withLock { try ConfigFile.write(path, text) }
        } catch {
            return Reply.error(500, "write_failed", message: "\(error)")
        }
        await reloader.reload([FileSystem.absolute(path)])
        return Reply.json(200, .object(["ok": .bool(true), "changed": .array([.string("config")])]))
    }

    // MARK: edits

    /// A route's refusal, carried out of an edit.
    struct Refusal: Error { var response: Response }

    /// Reads config.yaml, applies `change` (given an editor and the config
    /// the file holds), validates the result with the loader (422 when it
    /// does not load), writes it atomically and reloads.
    func edit(extra: [String: JSONValue] = [:],
              _ change: (inout ConfigEditor, ProxyConfig) throws -> Void) async -> Response {
        let path = store.state.configPath
        let outcome: Result<Void, Refusal> = ConfigFile.withLock {
            guard let text = ConfigFile.read(path) else {
                return .failure(Refusal(response: Reply.error(500, "failed to save config: cannot read \(path)")))
            }
            let current: ProxyConfig
            switch ProxyConfig.parse(text, file: path) {
            case .success(let (c, _)): current = c
            case .failure(let e):
                return .failure(Refusal(response: Reply.error(422, "invalid_config", message: "the config file on disk does not load; fix it first: \(e)")))
            }
            var editor = ConfigEditor(text: text)
            do {
                try change(&editor, current)
            } catch let r as Refusal {
                return .failure(r)
            } catch {
                return .failure(Refusal(response: Reply.error(500, "failed to save config: \(error)")))
            }
            if case .failure(let e) = ProxyConfig.parse(editor.text, file: path) {
                return .failure(Refusal(response: Reply.error(422, "invalid_config", message: e.description)))
            }
            do { try ConfigFile.write(path, editor.text) } catch {
                return .failure(Refusal(response: Reply.error(500, "failed to save config: \(error)")))
            }
            return .success(())
        }
        if case .failure(let r) = outcome { return r.response }
        await reloader.reload([FileSystem.absolute(path)])
        var out: [String: JSONValue] = ["status": .string("ok")]
        for (k, v) in extra { out[k] = v }
        return Reply.json(200, .object(out))
    }

    func setScalar(_ s: ScalarSetting, _ req: Request) async -> Response {
        guard case .success(let json) = await Reply.jsonBody(req), let v = json["value"], s.accepts(v) else {
            return Reply.error(400, "invalid body")
        }
        return await edit { e, _ in try e.set(s.path, v) }
    }

    // MARK: string lists

    func putStrings(_ list: StringList, _ req: Request) async -> Response {
        guard case .success(let json) = await Reply.jsonBody(req), let items = (json.array ?? json["items"]?.array),
              let strings = Optional(items.compactMap(\.string)), strings.count == items.count else {
            return Reply.error(400, "invalid body")
        }
        return await edit(extra: warning(list, strings)) { e, _ in try e.set([list.key], .array(strings.map { .string($0) })) }
    }

    func patchStrings(_ list: StringList, _ req: Request) async -> Response {
        guard case .success(let json) = await Reply.jsonBody(req), json.object != nil else { return Reply.error(400, "invalid body") }
        return await edit { e, c in
            var items = list.read(c)
            if let old = json["old"]?.string, let new = json["new"]?.string {
                guard let i = items.firstIndex(of: old) else { throw Refusal(response: Reply.error(404, "item not found")) }
                items[i] = new
            } else if let index = json["index"]?.number, let value = json["value"]?.string {
                guard let i = Int(exactly: index), items.indices.contains(i) else { throw Refusal(response: Reply.error(404, "item not found")) }
                items[i] = value
            } else {
                throw Refusal(response: Reply.error(400, "missing fields"))
            }
            try e.set([list.key], .array(items.map { .string($0) }))
        }
    }

    func deleteString(_ list: StringList, _ req: Request) async -> Response {
        let q = req.uri.queryParameters
        let value = q["value"].map(String.init), index = q["index"].flatMap { Int(String($0)) }
        guard value != nil || index != nil else { return Reply.error(400, "missing index or value") }
        var left: [String] = []
        let response = await edit { e, c in
            var items = list.read(c)
            if let value {
                guard items.contains(value) else { throw Refusal(response: Reply.error(404, "item not found")) }
                items.removeAll { $0 == value }
            } else if let index {
                guard items.indices.contains(index) else { throw Refusal(response: Reply.error(404, "item not found")) }
                items.remove(at: index)
            }
            left = items
            try e.set([list.key], .array(items.map { .string($0) }))
        }
        if response.status == .ok, let w = warning(list, left)["warning"] {
            return Reply.json(200, .object(["status": .string("ok"), "warning": w]))
        }
        return response
    }

    /// Removing the last client key turns client authentication off: say so.
    func warning(_ list: StringList, _ items: [String]) -> [String: JSONValue] {
        guard list.key == "api-keys", items.isEmpty else { return [:] }
        return ["warning": .string("api-keys is now empty: clients need no key (the server listens on 127.0.0.1 unless host is set)")]
    }

    // MARK: object lists

    func putObjects(_ list: ObjectList, _ req: Request) async -> Response {
        guard case .success(let json) = await Reply.jsonBody(req), let items = (json.array ?? json["items"]?.array) else {
            return Reply.error(400, "invalid body")
        }
        var entries: [JSONValue] = []
        for item in items {
            switch list.normalize(item) {
            case .success(let v): entries.append(v)
            case .failure(let why): return Reply.error(400, "invalid body", message: why.message)
            }
        }
        return await edit { e, _ in try e.set([list.key], .array(entries)) }
    }

    func patchObject(_ list: ObjectList, _ req: Request) async -> Response {
        guard case .success(let json) = await Reply.jsonBody(req), let patch = json["value"]?.object else {
            return Reply.error(400, "invalid body")
        }
        return await edit { e, c in
            var items = list.read(c)
            let i: Int?
            if let index = json["index"]?.number {
                i = Int(exactly: index).flatMap { items.indices.contains($0) ? $0 : nil }
            } else if let match = json[list.matchField]?.string ?? json["match"]?.string {
                i = items.firstIndex { $0[list.identity]?.string == match }
            } else {
                throw Refusal(response: Reply.error(400, "missing fields"))
            }
            guard let i else { throw Refusal(response: Reply.error(404, "item not found")) }
            var merged = items[i].object ?? [:]
            for (k, v) in patch { merged[k] = v }
            if list.key == "claude-api-key", merged["api-key"]?.string == "" {
                items.remove(at: i)
            } else {
                switch list.normalize(.object(merged)) {
                case .success(let v): items[i] = v
                case .failure(let why): throw Refusal(response: Reply.error(400, "invalid body", message: why.message))
                }
            }
            try e.set([list.key], .array(items))
        }
    }

    func deleteObject(_ list: ObjectList, _ req: Request) async -> Response {
        let q = req.uri.queryParameters
        let index = q["index"].flatMap { Int(String($0)) }
        let match = q[Substring(list.identity)].map(String.init)
        let baseURL = q["base-url"].map(String.init)
        guard index != nil || match != nil else { return Reply.error(400, "missing \(list.identity) or index") }
        return await edit { e, c in
            var items = list.read(c)
            if let index {
                guard items.indices.contains(index) else { throw Refusal(response: Reply.error(404, "item not found")) }
                items.remove(at: index)
            } else if let match {
                let hits = items.indices.filter { items[$0][list.identity]?.string == match && (baseURL == nil || items[$0]["base-url"]?.string == baseURL) }
                if hits.isEmpty { throw Refusal(response: Reply.error(404, "item not found")) }
                if hits.count > 1 { throw Refusal(response: Reply.error(400, "multiple items match \(list.identity); base-url is required")) }
                items.remove(at: hits[0])
            }
            try e.set([list.key], .array(items))
        }
    }
}

/// Applies ``ManagementAuth`` to every management route, and stamps the
/// product's version on every management response.
struct ManagementGate: RouterMiddleware {
    typealias Context = ProxyContext
    let store: ServerStateStore
    let auth: ManagementAuth

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let config = store.state.config
        let decision = auth.check(key: ManagementKey.of(config), peer: context.remoteAddress?.ipAddress ?? "unknown",
                                  peerIsLoopback: context.peerIsLoopback, allowRemote: config.remoteManagement.allowRemote,
                                  presented: ManagementAuth.presentedKey(request))
        var response: Response
        switch decision {
        case .allow:
            response = try await next(request, context)
        case .deny(404, nil, _):
            return Response(status: .notFound)
        case .deny(let status, let error, let retryAfter):
            response = Reply.error(status, error ?? "denied")
            if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        }
        if let name = HTTPField.Name("X-CLIProxy-Version") { response.headers[name] = CLIProxyInfo.version }
        return response
    }
}

/// JSON replies of the management API: `{"error":…}` and `{"error":…,"message":…}`.
enum Reply {
    static func json(_ status: Int, _ value: JSONValue) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: value.compact())))
    }

    static func error(_ status: Int, _ error: String, message: String? = nil) -> Response {
        var o: [String: JSONValue] = ["error": .string(error)]
        if let message { o["message"] = .string(message) }
        return json(status, .object(o))
    }

    /// The request body, at most `limit` bytes (413 beyond).
    static func body(_ req: Request, limit: Int) async -> Result<[UInt8], ManagementRoutes.Refusal> {
        do {
            let buffer = try await req.body.collect(upTo: limit)
            return .success(Array(buffer: buffer))
        } catch {
            return .failure(.init(response: Self.error(413, "body too large", message: "the limit is \(limit) bytes")))
        }
    }

    /// The body as JSON; 400 when it is not.
    static func jsonBody(_ req: Request, limit: Int = 1 << 20) async -> Result<JSONValue, ManagementRoutes.Refusal> {
        switch await body(req, limit: limit) {
        case .failure(let r): return .failure(r)
        case .success(let bytes):
            guard let v = JSONValue.parse(bytes) else { return .failure(.init(response: error(400, "invalid body"))) }
            return .success(v)
        }
    }
}

/// One scalar toggle (reference §3.2): its route, its path in config.yaml,
/// its type, and how to read it from the running config.
struct ScalarSetting: Sendable {
    /// The JSON type a PUT/PATCH `value` must have.
    enum Kind: Sendable { case bool, int, string }
    var route: String
    var path: [String]
    var getKey: String
    var kind: Kind
    var clearable = false
    var read: @Sendable (ProxyConfig) -> JSONValue

    func accepts(_ v: JSONValue) -> Bool {
        switch (kind, v) {
        case (.bool, .bool): return true
        case (.int, .number(let n)): return Int(exactly: n) != nil
        case (.string, .string): return true
        default: return false
        }
    }

    static let all: [ScalarSetting] = [
        .init(route: "debug", path: ["debug"], getKey: "debug", kind: .bool) { .bool($0.debug) },
        .init(route: "request-retry", path: ["request-retry"], getKey: "request-retry", kind: .int) { .number(Double($0.requestRetry)) },
        .init(route: "proxy-url", path: ["proxy-url"], getKey: "proxy-url", kind: .string, clearable: true) { .string(Secret.maskURL($0.proxyURL)) },
        .init(route: "quota-exceeded/switch-project", path: ["quota-exceeded", "switch-project"], getKey: "switch-project", kind: .bool) {
            .bool($0.quotaExceeded.switchProject)
        },
        .init(route: "quota-exceeded/switch-preview-model", path: ["quota-exceeded", "switch-preview-model"], getKey: "switch-preview-model", kind: .bool) {
            .bool($0.quotaExceeded.switchPreviewModel)
        },
        .init(route: "request-log", path: ["request-log"], getKey: "request-log", kind: .bool) { .bool($0.requestLog) },
        .init(route: "usage-statistics-enabled", path: ["usage-statistics-enabled"], getKey: "usage-statistics-enabled", kind: .bool) {
            .bool($0.usageStatisticsEnabled)
        },
    ]
}

/// A list of plain keys (reference §3.3, and the legacy Gemini key list).
struct StringList: Sendable {
    var key: String
    var read: @Sendable (ProxyConfig) -> [String]

    static let all: [StringList] = [
        .init(key: "api-keys") { $0.apiKeys.map(\.revealed) },
        .init(key: "generative-language-api-key") { $0.generativeLanguageAPIKeys.map(\.revealed) },
    ]
}

/// A list of objects (reference §3.4) in the fields this product's config
/// has: entries are checked field by field (unknown fields are refused rather
/// than written and ignored).
struct ObjectList: Sendable {
    var key: String
    /// The field that names an entry (PATCH `match`, DELETE query).
    var identity: String
    /// The PATCH body's field naming the entry (besides `match`).
    var matchField: String
    var read: @Sendable (ProxyConfig) -> [JSONValue]
    var normalize: @Sendable (JSONValue) -> Result<JSONValue, ListError>
    var masked: @Sendable (JSONValue) -> JSONValue

    static let all: [ObjectList] = [claude, openAI]

    /// Why an entry is refused (400 `invalid body` with this message).
    struct ListError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    static let claude = ObjectList(
        key: "claude-api-key", identity: "api-key", matchField: "match",
        read: { c in c.claudeAPIKeys.map { k in
            var o: [String: JSONValue] = ["api-key": .string(k.apiKey.revealed)]
            if let b = k.baseURL { o["base-url"] = .string(b) }
            return .object(o)
        } },
        normalize: { v in
            guard let o = v.object else { return .failure(ListError("each entry must be an object")) }
            if let bad = o.keys.first(where: { !["api-key", "base-url"].contains($0) }) {
                return .failure(ListError("unknown field `\(bad)` in a claude-api-key entry (supported: api-key, base-url)"))
            }
            guard let k = o["api-key"]?.string, !k.isEmpty else { return .failure(ListError("each entry needs a non-empty api-key")) }
            var out: [String: JSONValue] = ["api-key": .string(k)]
            switch o["base-url"] {
            case nil, .null?: break
            case .string(let b)?: if !b.isEmpty { out["base-url"] = .string(b) }
            default: return .failure(ListError("base-url must be a string"))
            }
            return .success(.object(out))
        },
        masked: { v in
            var o = v.object ?? [:]
            if let k = o["api-key"]?.string { o["api-key"] = .string(Secret.mask(k)) }
            if let b = o["base-url"]?.string { o["base-url"] = .string(Secret.maskURL(b)) }
            return .object(o)
        })

    static let openAI = ObjectList(
        key: "openai-compatibility", identity: "name", matchField: "name",
        read: { c in c.openAICompatibility.map { p in
            .object(["name": .string(p.name), "base-url": .string(p.baseURL),
                     "api-keys": .array(p.apiKeys.map { .string($0.revealed) }),
                     "models": .array(p.models.map { m in
                         var o: [String: JSONValue] = ["name": .string(m.name)]
                         if let a = m.alias { o["alias"] = .string(a) }
                         return .object(o)
                     })])
        } },
        normalize: { v in
            guard var o = v.object else { return .failure(ListError("each entry must be an object")) }
            // The reference's `api-key-entries` ([{api-key, proxy-url}]) become `api-keys`.
            if let entries = o.removeValue(forKey: "api-key-entries") {
                guard let list = entries.array else { return .failure(ListError("api-key-entries must be a list")) }
                var keys = o["api-keys"]?.array ?? []
                for e in list {
                    guard let k = e["api-key"]?.string ?? e.string else { return .failure(ListError("each api-key-entries item needs an api-key")) }
                    keys.append(.string(k))
                }
                o["api-keys"] = .array(keys)
            }
            if let bad = o.keys.first(where: { !["name", "base-url", "api-keys", "models"].contains($0) }) {
                return .failure(ListError("unknown field `\(bad)` in an openai-compatibility entry (supported: name, base-url, api-keys, api-key-entries, models)"))
            }
            guard let name = o["name"]?.string, !name.isEmpty else { return .failure(ListError("each entry needs a non-empty name")) }
            guard let base = o["base-url"]?.string, !base.isEmpty else { return .failure(ListError("each entry needs a base-url")) }
            var out: [String: JSONValue] = ["name": .string(name), "base-url": .string(base)]
            let keys = o["api-keys"]?.array ?? []
            guard keys.allSatisfy({ $0.string != nil }) else { return .failure(ListError("api-keys must be a list of strings")) }
            if !keys.isEmpty { out["api-keys"] = .array(keys) }
            var models: [JSONValue] = []
            for m in o["models"]?.array ?? [] {
                guard let n = m["name"]?.string ?? m.string, !n.isEmpty else { return .failure(ListError("each model needs a name")) }
                var mo: [String: JSONValue] = ["name": .string(n)]
                if let a = m["alias"]?.string, !a.isEmpty { mo["alias"] = .string(a) }
                models.append(.object(mo))
            }
            if !models.isEmpty { out["models"] = .array(models) }
            return .success(.object(out))
        },
        masked: { v in
            var o = v.object ?? [:]
            if let keys = o["api-keys"]?.array { o["api-keys"] = .array(keys.map { .string(Secret.mask($0.string ?? "")) }) }
            if let b = o["base-url"]?.string { o["base-url"] = .string(Secret.maskURL(b)) }
            return .object(o)
        })
}

/// `GET /config`: the running config as JSON, every secret masked and the
/// management key left out.
enum ConfigView {
    static func json(_ c: ProxyConfig) -> JSONValue {
        .object([
            "port": .number(Double(c.port)),
            "host": .string(c.effectiveHost),
            "auth-dir": .string(c.authDir),
            "proxy-url": .string(Secret.maskURL(c.proxyURL)),
            "request-retry": .number(Double(c.requestRetry)),
            "remote-management": .object(["allow-remote": .bool(c.remoteManagement.allowRemote)]),
            "quota-exceeded": .object(["switch-project": .bool(c.quotaExceeded.switchProject),
                                       "switch-preview-model": .bool(c.quotaExceeded.switchPreviewModel)]),
            "debug": .bool(c.debug),
            "api-keys": .array(c.apiKeys.map { .string($0.masked) }),
            "generative-language-api-key": .array(c.generativeLanguageAPIKeys.map { .string($0.masked) }),
            "claude-api-key": .array(ObjectList.claude.read(c).map(ObjectList.claude.masked)),
            "openai-compatibility": .array(ObjectList.openAI.read(c).map(ObjectList.openAI.masked)),
            "request-log": .bool(c.requestLog),
            "usage-statistics-enabled": .bool(c.usageStatisticsEnabled),
            "max-body-size": .number(Double(c.maxBodySize)),
        ])
    }
}
