import CNS
import Foundation
import HTTP1
import JSON
import Testing
@testable import OIDC

/// The card a citizen logs in with: `acr` and `amr` name it, the audit trail records it, and a
/// service narrows the cards it takes with `card_kinds` (registration) or `acr_values` (request).
@Suite struct CardKindTests {
    static let cie = LoginSubject(cardKind: .cie, codiceFiscale: "RSSMRA80A01H501U", givenName: "MARIO", familyName: "ROSSI",
                                  cardID: nil, documentNumber: "CA00000AA", administration: nil,
                                  certificateSerial: "0C1E", certificateIssuer: "C=IT, CN=Issuing sub CA - SUBCA1",
                                  thumbprint: String(repeating: "cd", count: 32))
    static let cieCard = CardLogin(reason: "ok", subject: cie)

    func idToken(_ world: TestWorld, _ code: String) throws -> JWS.Decoded {
        let response = world.redeem(code)
        #expect(response.status == 200, "\(response.text)")
        let keys = world.provider.keys.verificationKeys(now: Int(world.clock.time))
        return try JWS.verify(try #require(response.json["id_token"]?.stringValue), keys: keys)
    }

    @Test func aCIELoginSaysSoInACRAndAMRWithTheSameFiscalNumber() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code(card: Self.cieCard))
        let id = try idToken(world, code)
        #expect(id.claims["acr"] == .string(ProviderConfiguration.defaultCIEACR))
        #expect(id.claims["amr"] == ["sc", "pin", "hwk", "cie"])
        #expect(id.claims["fiscal_number"] == "TINIT-RSSMRA80A01H501U")
        #expect(id.claims["given_name"] == "MARIO")
        #expect(id.claims["cns_card_id"] == nil)
        // The login and the token call both name the card.
        let audit = try world.store.audit(AuditFilter())
        #expect(audit.map(\.event) == ["login", "token"])
        #expect(audit.map(\.cardKind) == ["cie", "cie"])
        #expect(audit[0].json["card_kind"] == "cie")
    }

    @Test func aCNSLoginKeepsItsACR() throws {
        let world = TestWorld()
        let (code, _) = try #require(world.code())
        let id = try idToken(world, code)
        #expect(id.claims["acr"] == .string(ProviderConfiguration.defaultACR))
        #expect(id.claims["amr"] == ["sc", "pin", "hwk", "cns"])
        #expect(try world.store.audit(AuditFilter()).map(\.cardKind) == ["cns", "cns"])
    }

    @Test func aServiceRegisteredForTheTSCNSOnlyRefusesACIEWithAPageAndAWayBack() throws {
        let world = TestWorld()
        let query = TestWorld.authorizeQuery(client: "anagrafe", redirect: "https://anagrafe.example.it/cb")
        let outcome = world.get(query, world.info(card: Self.cieCard))
        guard case .page(.loginFailed(let reason, _, let back, let kind, let accepted), 403, _)? = outcome else {
            Issue.record("\(String(describing: outcome))"); return
        }
        #expect(reason == "card_kind_not_allowed")
        #expect(kind == .cie)
        #expect(accepted == [.cns])
        #expect(back.hasPrefix("https://anagrafe.example.it/cb?error=unmet_authentication_requirements"))
        let audit = try world.store.audit(AuditFilter())
        #expect(audit.count == 1)
        #expect(audit[0].reason == "card_kind_not_allowed" && audit[0].cardKind == "cie" && audit[0].codiceFiscale == "RSSMRA80A01H501U")
        // The same service takes a TS-CNS.
        #expect(world.code(client: "anagrafe", redirect: "https://anagrafe.example.it/cb") != nil)
    }

    @Test func acrValuesNamingOneCardTakesThatCardOnly() throws {
        let world = TestWorld()
        let askCIE = TestWorld.defaultExtra + [("acr_values", ProviderConfiguration.defaultCIEACR)]
        // A TS-CNS is refused when the service asked for the CIE's acr...
        let refused = world.get(TestWorld.authorizeQuery(extra: askCIE), world.info())
        guard case .page(.loginFailed("card_kind_not_allowed", _, _, .cns, let accepted), 403, _)? = refused else {
            Issue.record("\(String(describing: refused))"); return
        }
        #expect(accepted == [.cie])
        // ... and a CIE logs in, with the acr asked for.
        let (code, _) = try #require(world.code(extra: askCIE, card: Self.cieCard))
        #expect(try idToken(world, code).claims["acr"] == .string(ProviderConfiguration.defaultCIEACR))
        // Both acrs, in any order, or one this provider does not issue: no narrowing.
        let both = TestWorld.defaultExtra + [("acr_values", "urn:cns-gateway:acr:ts-cns urn:cns-gateway:acr:cie")]
        #expect(world.code(extra: both, card: Self.cieCard) != nil)
        let foreign = TestWorld.defaultExtra + [("acr_values", "https://www.spid.gov.it/SpidL2")]
        #expect(world.code(extra: foreign, card: Self.cieCard) != nil)
    }

    @Test func acrValuesAskingForACardTheServiceIsNotRegisteredForIsAnErrorRedirect() throws {
        let world = TestWorld()
        let extra = TestWorld.defaultExtra + [("acr_values", ProviderConfiguration.defaultCIEACR)]
        let outcome = world.get(TestWorld.authorizeQuery(client: "anagrafe", redirect: "https://anagrafe.example.it/cb", extra: extra))
        guard case .response(let response)? = outcome else { Issue.record("\(String(describing: outcome))"); return }
        #expect(response.status == 302)
        #expect(response.headers.first(named: "Location")?.contains("error=unmet_authentication_requirements") == true)
    }

    @Test func theInterstitialOffersOnlyTheCardsOfTheRequest() throws {
        let world = TestWorld()
        let outcome = world.get(TestWorld.authorizeQuery(client: "anagrafe", redirect: "https://anagrafe.example.it/cb"),
                                world.info(login: false))
        guard case .page(.landing(_, _, let kinds), 200, _)? = outcome else { Issue.record("\(String(describing: outcome))"); return }
        #expect(kinds == [.cns])
    }

    @Test func discoveryAdvertisesTheACRsOfTheAcceptedCards() throws {
        let world = TestWorld()
        guard case .response(let response)? = world.get("/.well-known/openid-configuration", world.info(login: false)) else {
            Issue.record(); return
        }
        #expect(response.json["acr_values_supported"] == ["urn:cns-gateway:acr:ts-cns", "urn:cns-gateway:acr:cie"])
    }

    @Test func theSubjectKeepsItsCardAcrossTheStoreAndOldRecordsReadAsCNS() throws {
        let json = Self.cie.jsonValue
        #expect(json["kind"] == "cie" && json["doc"] == "CA00000AA")
        #expect(LoginSubject(jsonValue: json) == Self.cie)
        var old = TestWorld.subject.jsonValue
        if case .object(var fields) = old { fields["kind"] = nil; old = .object(fields) }
        #expect(LoginSubject(jsonValue: old)?.cardKind == .cns)
        if case .object(var fields) = json { fields["kind"] = "passport"; #expect(LoginSubject(jsonValue: .object(fields)) == nil) }
    }
}
