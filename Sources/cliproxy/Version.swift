enum CLIProxyVersion {
    static let string = "0.1.0"
}
