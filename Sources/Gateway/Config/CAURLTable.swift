import Outbound

extension ConfigReader {
    /// A table of `"<CA SHA-256>" = "http://..."` (`[trust.crl_sources]`,
    /// `[trust.ocsp_responders]`): lowercase hex fingerprint -> URL. A key that is not a
    /// fingerprint (colons optional) or a value that is not a plain http:// URL is reported and
    /// left out. `caMeaning` names the CA the key is of, `why` says why plain HTTP.
    func caURLTable(_ fields: [String: ConfigValue], _ key: String, path: String, caMeaning: String, why: String) -> [String: String] {
        let tablePath = "\(path).\(key)"
        guard let value = fields[key] else { return [:] }
        guard case .table(let entries) = value else {
            problem(tablePath, "must be a table of \"<CA SHA-256>\" = \"http://...\", found \(value.typeName)")
            return [:]
        }
        var urls: [String: String] = [:]
        for (key, url) in entries.sorted(by: { $0.key < $1.key }) {
            let keyPath = "\(tablePath).\"\(key)\""
            let hex = key.replacing(":", with: "").lowercased()
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                problem(keyPath, "key must be \(caMeaning)'s SHA-256 fingerprint (64 hex digits, colons optional)")
                continue
            }
            guard case .string(let text) = url else {
                problem(keyPath, "must be a string, found \(url.typeName)")
                continue
            }
            guard let parsed = try? FetchURL(text), !parsed.useTLS else {
                problem(keyPath, "\"\(text)\" is not an http:// URL (\(why))")
                continue
            }
            urls[hex] = text
        }
        return urls
    }
}
