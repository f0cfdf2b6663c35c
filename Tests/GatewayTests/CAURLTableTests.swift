import Foundation
import Testing
@testable import Gateway

/// `[trust.crl_sources]` and `[trust.ocsp_responders]`: one reader for both tables of
/// "<CA SHA-256>" = "http://...", each with its own wording.
@Suite struct CAURLTableTests {
    static let fingerprint = "AB:" + String(repeating: "0123456789abcdef", count: 4).dropFirst(2).uppercased()
    static let hex = "ab" + String(repeating: "0123456789abcdef", count: 4).dropFirst(2)

    func load(_ text: String) throws -> Result<GatewayConfig, ConfigError> {
        let fixture = try ConfigFixture()
        let path = fixture.write(ConfigFixture.minimal + "\n" + text)
        do { return .success(try GatewayConfig.load(path: path)) } catch { return .failure(error) }
    }

    func problems(_ text: String) throws -> [String] {
        guard case .failure(let error) = try load(text) else { return [] }
        return error.problems.map { "\($0.keyPath): \($0.message)" }
    }

    @Test func fingerprintsAreNormalisedAndURLsKept() throws {
        let text = """
            crl_refresh = true
            crl_directory = "crls"
            [trust.crl_sources]
            "\(Self.fingerprint)" = "http://crl.example.it/ca.crl"
            [trust.ocsp_responders]
            "\(Self.fingerprint)" = "http://ocsp.example.it/"
            """
        let config = try load(text).get()
        #expect(config.crlRefresh?.sources == [Self.hex: "http://crl.example.it/ca.crl"])
        #expect(config.ocsp.responders == [Self.hex: "http://ocsp.example.it/"])
    }

    @Test(arguments: [("crl_sources", "a CA certificate", "CRLs are signed: plain HTTP only"),
                      ("ocsp_responders", "the issuing CA certificate", "OCSP responses are signed: plain HTTP, as RFC 6960 expects")])
    func eachBadEntryIsReportedInItsTablesWords(table: String, ca: String, why: String) throws {
        let found = try problems("""
            [trust.\(table)]
            "not-a-fingerprint" = "http://a.example.it/"
            "\(Self.hex)" = 7
            "\(Self.fingerprint)" = "https://a.example.it/"
            """)
        #expect(found == [
            "trust.\(table).\"\(Self.fingerprint)\": \"https://a.example.it/\" is not an http:// URL (\(why))",
            "trust.\(table).\"\(Self.hex)\": must be a string, found an integer",
            "trust.\(table).\"not-a-fingerprint\": key must be \(ca)'s SHA-256 fingerprint (64 hex digits, colons optional)",
        ])
        let notATable = try problems("\(table) = \"http://a.example.it/\"\n")
        #expect(notATable == ["trust.\(table): must be a table of \"<CA SHA-256>\" = \"http://...\", found a string"])
    }
}
