/// After a Google sign-in: which Code Assist project the account uses, and
/// the account onboarded to it.
///
/// `loadCodeAssist` gives the tier (the `allowedTiers` entry marked
/// `isDefault`, else `legacy-tier`) and maybe a project. The project is the
/// user's `--project_id`, else the one Code Assist reports, else the
/// account's only Google Cloud project; several projects → the user must
/// choose; none → Code Assist assigns one while onboarding. `onboardUser` is
/// repeated every 2 s (× pollScale), at most 60 times, until `done`.
struct CodeAssistSetup: Sendable {
    let http: LoginHTTP
    let accessToken: String
    /// `https://cloudcode-pa.googleapis.com` (no `/v1internal`).
    let codeAssistURL: String
    let projectsURL: String?
    let options: LoginOptions
    let console: any LoginConsole

    static let metadata: JSONValue = .object([
        "ideType": .string("IDE_UNSPECIFIED"), "platform": .string("PLATFORM_UNSPECIFIED"), "pluginType": .string("GEMINI"),
    ])
    static let onboardAttempts = 60
    static let onboardInterval = 2.0

    /// The project the credential file records.
    func run() async throws(LoginError) -> String {
        let chosen = options.projectID.flatMap { $0.isEmpty ? nil : $0 }
        var body: [String: JSONValue] = ["metadata": Self.metadata]
        if let chosen { body["cloudaicompanionProject"] = .string(chosen) }
        let loaded = try await call("loadCodeAssist", .object(body))
        let tier = loaded["allowedTiers"]?.array?.first { $0["isDefault"]?.bool == true }?["id"]?.string ?? "legacy-tier"

        var project = chosen ?? Self.projectID(loaded["cloudaicompanionProject"])
        if project == nil { project = try await onlyProject() }

        var onboard: [String: JSONValue] = ["tierId": .string(tier), "metadata": Self.metadata]
        if let project { onboard["cloudaicompanionProject"] = .string(project) }
        console.say("Setting up Gemini Code Assist (tier \(tier)\(project.map { ", project \($0)" } ?? ""))…")
        for attempt in 1...Self.onboardAttempts {
            let answer = try await call("onboardUser", .object(onboard))
            if answer["done"]?.bool == true {
                let assigned = Self.projectID(answer["response"]?["cloudaicompanionProject"])
                if let assigned, let project, assigned != project {
                    console.say("Code Assist uses project \(assigned) for this account (not \(project)).")
                }
                guard let final = assigned ?? project else {
                    throw LoginError(.badResponse, "Code Assist finished onboarding without assigning a project",
                                     suggestion: "Re-run the login with --project_id <your Google Cloud project id>.")
                }
                return final
            }
            if attempt < Self.onboardAttempts { try await LoginClock.sleep(Self.onboardInterval * options.pollScale) }
        }
        throw LoginError(.timedOut, "Code Assist onboarding did not finish within \(Int(Double(Self.onboardAttempts) * Self.onboardInterval)) s",
                         suggestion: "Run the login again in a few minutes, or pass --project_id <your Google Cloud project id>.")
    }

    /// POST `<code_assist>/v1internal:<method>`.
    func call(_ method: String, _ body: JSONValue) async throws(LoginError) -> JSONValue {
        let url = codeAssistURL.hasSuffix("/") ? codeAssistURL + "v1internal:" + method : codeAssistURL + "/v1internal:" + method
        let answer = try await http.postJSON(url, body, bearer: accessToken, what: "set up Code Assist (\(method))", endpoint: .other)
        guard answer.ok else {
            throw LoginHTTP.failure(answer, host: URLQuery.hostPort(url), what: "set up Code Assist (\(method))", secrets: [accessToken],
                                    suggestion: "Check that the account may use Gemini Code Assist; with a Google Cloud project, re-run with --project_id <id>.")
        }
        return answer.json ?? .object([:])
    }

    /// The account's only Google Cloud project; nil when it has none (or
    /// the list cannot be read); an error naming them when it has several.
    func onlyProject() async throws(LoginError) -> String? {
        guard let projectsURL else { return nil }
        let answer = try await http.get(projectsURL, bearer: accessToken, what: "list the account's Google Cloud projects")
        guard answer.ok else {
            console.say("Could not list the account's Google Cloud projects (HTTP \(answer.status)); letting Code Assist choose one.")
            return nil
        }
        let ids = (answer.json?["projects"]?.array ?? []).compactMap { $0["projectId"]?.string }.filter { !$0.isEmpty }
        switch ids.count {
        case 0: return nil
        case 1:
            console.say("Using the account's only Google Cloud project, \(ids[0]).")
            return ids[0]
        default:
            throw LoginError(.projectChoice, "the account has several Google Cloud projects: \(ids.joined(separator: ", "))",
                             suggestion: "Re-run the login with --project_id <one of them>.")
        }
    }

    /// A project as Code Assist gives it: a string or `{"id": …}`.
    static func projectID(_ value: JSONValue?) -> String? {
        let id = value?.string ?? value?["id"]?.string
        return (id?.isEmpty ?? true) ? nil : id
    }
}
