import TLS

/// `check-config`: everything a start would load, with every problem reported.
public enum ConfigCheck {
    public static func run(path: String) -> [String] {
        let config: GatewayConfig
        do {
            config = try GatewayConfig.load(path: path)
        } catch {
            return error.problems.map(\.description)
        }
        var problems: [String] = []
        let trust: TrustStore
        do {
            trust = try TrustStore(config.trust)
        } catch {
            return ["\(path): trust: \(error.reason)"]
        }
        for (i, listener) in config.listeners.enumerated() {
            do {
                _ = try TLSContext(listener.tlsConfiguration, trust: trust)
            } catch {
                problems.append("\(path): listener[\(i)] (\(listener.name)): \(error.reason)")
            }
        }
        return problems
    }
}
