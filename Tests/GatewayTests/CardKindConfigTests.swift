import Foundation
import Testing
@testable import Gateway
import TLS

/// `[profile] cns / cie`, the CIE's policy, a client's `card_kinds`, `[oidc] acr_cie`, and the
/// warning about a TLS 1.3-only card listener, which a CIE cannot use.
@Suite struct CardKindConfigTests {
    func kinds(_ config: GatewayConfig) -> [String] { config.profile.profile.kinds.map(\.rawValue).sorted() }

    func problems(_ text: String) throws -> [String] {
        let fixture = try ConfigFixture()
        do {
            _ = try GatewayConfig.load(path: fixture.write(text))
            return []
        } catch {
            return error.problems.map { "\($0.keyPath): \($0.message)" }
        }
    }

    static let oidc = """

        [server]
        state_dir = "."

        [oidc]
        issuer = "https://login.example.it"

        [[client]]
        id = "fse"
        redirect_uris = ["https://fse.example.it/cb"]
        token_endpoint_auth_method = "none"
        """

    @Test func bothCardsByDefaultEachSwitchable() throws {
        let fixture = try ConfigFixture()
        let defaults = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal))
        #expect(kinds(defaults) == ["cie", "cns"])
        #expect(defaults.profile.profile.ciePolicyOIDs == ["1.3.76.47.4"])
        let cnsOnly = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal + "\n[profile]\ncie = false\n"))
        #expect(kinds(cnsOnly) == ["cns"])
        let cieOnly = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal + "\n[profile]\ncns = false\n"))
        #expect(kinds(cieOnly) == ["cie"])
        #expect(cieOnly.profile.acceptedKinds.map(\.rawValue) == ["cie"])
    }

    @Test func theProfileRefusesWhatCouldNotWork() throws {
        let none = try problems(ConfigFixture.minimal + "\n[profile]\ncns = false\ncie = false\n")
        #expect(none.contains { $0.hasPrefix("profile:") && $0.contains("no card could log in") })
        let empty = try problems(ConfigFixture.minimal + "\n[profile]\ncie_policy_oids = []\n")
        #expect(empty.contains { $0.hasPrefix("profile.cie_policy_oids") })
        let shared = try problems(ConfigFixture.minimal + "\n[profile]\ncie_policy_oids = [\"1.3.76.16.2.1\"]\n")
        #expect(shared.contains { $0.hasPrefix("profile.cie_policy_oids") && $0.contains("policy_oids too") })
        let typo = try problems(ConfigFixture.minimal + "\n[profile]\ncie = \"yes\"\n")
        #expect(typo.contains { $0.hasPrefix("profile.cie") })
        let unknown = try problems(ConfigFixture.minimal + "\n[profile]\npassport = true\n")
        #expect(unknown.contains { $0.contains("passport") })
    }

    @Test func clientsNameTheCardsTheyTakeAndTheACRsDiffer() throws {
        let fixture = try ConfigFixture()
        let config = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal + Self.oidc + "\ncard_kinds = [\"cns\"]\n"))
        let provider = try #require(config.oidc).provider
        #expect(provider.clients[0].cardKinds.map(\.rawValue) == ["cns"])
        #expect(provider.acrCIE == "urn:cns-gateway:acr:cie" && provider.acr == "urn:cns-gateway:acr:ts-cns")
        #expect(provider.cardKinds.count == 2)
        let unknown = try problems(ConfigFixture.minimal + Self.oidc + "\ncard_kinds = [\"passport\"]\n")
        #expect(unknown.contains { $0.hasPrefix("client[0].card_kinds[0]") })
        // A client taking only the CIE on a gateway that does not take it: nobody could log in.
        let disjoint = try problems(ConfigFixture.minimal + Self.oidc + "\ncard_kinds = [\"cie\"]\n\n[profile]\ncie = false\n")
        #expect(disjoint.contains { $0.hasPrefix("client[0].card_kinds") && $0.contains("no card could log in") })
        let sameACR = try problems(ConfigFixture.minimal + Self.oidc.replacingOccurrences(
            of: "issuer = \"https://login.example.it\"", with: "issuer = \"https://login.example.it\"\nacr_cie = \"urn:cns-gateway:acr:ts-cns\""))
        #expect(sameACR.contains { $0.hasPrefix("oidc.acr_cie") })
        // With the CIE off, discovery advertises the CNS acr only.
        let off = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal + Self.oidc + "\n[profile]\ncie = false\n"))
        #expect(try #require(off.oidc).provider.cardKinds.map(\.rawValue) == ["cns"])
    }

    @Test func aTLS13OnlyCardListenerIsAWarningWhenTheCIEIsOn() throws {
        let fixture = try ConfigFixture()
        let only13 = ConfigFixture.minimal.replacingOccurrences(of: "private_key = \"server.key\"",
                                                                with: "private_key = \"server.key\"\ntls_versions = [\"1.3\"]")
        let config = try GatewayConfig.load(path: fixture.write(only13))
        #expect(config.cieBlockedByTLSVersions)
        #expect(config.warnings.count == 1)
        #expect(config.warnings[0].contains("listener[0].tls_versions") && config.warnings[0].contains("CIE"))
        // TLS 1.2 beside it, the CIE off, or a listener that does not ask for the card: no warning.
        #expect(try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal)).warnings.isEmpty)
        let off = try GatewayConfig.load(path: fixture.write(only13 + "\n[profile]\ncie = false\n"))
        #expect(off.warnings.isEmpty && !off.cieBlockedByTLSVersions)
        let noCard = try GatewayConfig.load(path: fixture.write(only13.replacingOccurrences(
            of: "tls_versions = [\"1.3\"]", with: "tls_versions = [\"1.3\"]\nclient_certificate = \"none\"")))
        #expect(noCard.warnings.isEmpty && !noCard.cieBlockedByTLSVersions)
        // TLS 1.2 alone stays a valid login listener.
        let only12 = try GatewayConfig.load(path: fixture.write(only13.replacingOccurrences(of: "\"1.3\"", with: "\"1.2\"")))
        #expect(only12.listeners[0].tlsVersions == [.tls12] && only12.warnings.isEmpty)
    }
}
