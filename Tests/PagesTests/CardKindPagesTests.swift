import CNS
import Foundation
import Pages
import Testing

/// The pages speak of the cards the gateway accepts, and on a failure of the card presented:
/// the CIE help page, the landing page offering both cards, a CIE's own wording per reason.
struct CardKindPagesTests {
    func renderer(_ kinds: Set<CardKind> = [.cns, .cie], blocked: Bool = false) throws -> PageRenderer {
        try PageRenderer(help: lombardyHelp, cardKinds: kinds, cieBlockedByTLS: blocked)
    }

    func cieIdentity() throws -> CNSIdentity {
        var cie = try identity(subject: "C=IT, SN=ROSSI, GN=MARIO, CN=RSSMRA80A01H501U/004400123456, serialNumber=IDCIT-CA00000AA",
                               administration: nil)
        cie.kind = .cie
        cie.cardID = nil
        cie.cnHash = nil
        cie.documentNumber = "CA00000AA"
        cie.cnNumber = "004400123456"
        return cie
    }

    @Test func theLandingPageOffersBothCardsWhenBothAreAccepted() throws {
        let html = try renderer().landing(.it, continueURL: "/authorize?x=1")
        let text = visibleText(html)
        #expect(html.contains("<h1>Accedi con la TS-CNS o con la CIE</h1>"))
        #expect(html.contains("Accedi con TS-CNS o CIE</p>"), "the header names both cards")
        #expect(text.contains("Accedi con la TS-CNS") && text.contains("Accedi con la CIE"))
        #expect(text.contains("PIN della carta") && text.contains("8 cifre") && text.contains("NFC"))
        #expect(html.contains(#"<a href="/cie?lang=it">"#))
        #expect(html.contains(#"class="button""#))
        let english = visibleText(try renderer().landing(.en))
        #expect(english.contains("Log in with your TS-CNS or your CIE") && english.contains("8 digits"))
    }

    @Test func aServiceTakingOneCardIsOfferedThatCardOnly() throws {
        let both = try renderer()
        let cnsOnly = visibleText(both.landing(.it, cardKinds: [.cns]))
        #expect(cnsOnly.contains("Accedi con la tua TS-CNS") && !cnsOnly.contains("8 cifre"))
        let cieOnly = visibleText(both.landing(.it, cardKinds: [.cie]))
        #expect(cieOnly.contains("Accedi con la tua CIE") && !cieOnly.contains("sportelli abilitati"))
        // A CNS-only gateway is what it was before the CIE.
        let old = try renderer([.cns]).landing(.it)
        #expect(old.contains("<h1>Accedi con la tua TS-CNS</h1>") && !old.contains("/cie?"))
    }

    @Test func theCIEHelpPageSaysWhatALoginNeeds() throws {
        for (language, phrases) in [
            (PageLanguage.it, ["software della CIE", "senza contatto", "NFC", "8 cifre", "prima metà", "ricevuta", "seconda metà",
                               "PUK", "tre volte", "Comune", "TLS 1.2"]),
            (.en, ["CIE software", "contactless", "NFC", "8 digits", "first half", "receipt", "second half", "PUK",
                   "three times", "municipality", "TLS 1.2"]),
        ] {
            let text = visibleText(try renderer().cieHelp(language))
            for phrase in phrases { #expect(text.contains(phrase), "\(language): missing «\(phrase)»") }
            #expect(!text.contains("non accetta la CIE") && !text.contains("does not accept the CIE"))
        }
        #expect(visibleText(try renderer([.cns]).cieHelp(.it)).contains("non accetta la CIE"))
    }

    @Test func aCIEFailureSpeaksOfTheCIE() throws {
        let pages = try renderer()
        let expired = visibleText(pages.error(reason: "expired", language: .it, cardKind: .cie))
        #expect(expired.contains("La CIE è scaduta") && expired.contains("Comune") && !expired.contains("ASL"))
        let cns = visibleText(pages.error(reason: "expired", language: .it, cardKind: .cns))
        #expect(cns.contains("La carta è scaduta") && cns.contains("ASL"))
        let badCF = visibleText(pages.error(reason: "invalid_fiscal_code", language: .en, cardKind: .cie))
        #expect(badCF.contains("The CIE's tax code is not valid") && badCF.contains("invalid_fiscal_code"))
        let off = visibleText(pages.error(reason: "not_cns_certificate", language: .it, cardKind: .cie))
        #expect(off.contains("Questo servizio non accetta la CIE"))
    }

    @Test func theWrongCardForAServiceNamesTheCardItTakes() throws {
        let pages = try renderer()
        let html = pages.error(reason: "card_kind_not_allowed", language: .it, returnURL: "https://svc.example/cb?error=x",
                               cardKind: .cie, acceptedKinds: [.cns])
        let text = visibleText(html)
        #expect(text.contains("Questo servizio non accetta la CIE"))
        #expect(text.contains("Questo servizio accetta: TS-CNS (Tessera Sanitaria - Carta Nazionale dei Servizi)"))
        #expect(html.contains("Torna al servizio"))
        #expect(PageRenderer.statusCode(for: "card_kind_not_allowed") == 403)
        let english = visibleText(pages.error(reason: "card_kind_not_allowed", language: .en, cardKind: .cns, acceptedKinds: [.cie]))
        #expect(english.contains("This service does not accept the TS-CNS") && english.contains("This service accepts: CIE"))
    }

    @Test func anUnknownCardOnAGatewayTakingTheCIEPointsToTheCIEHelp() throws {
        let both = visibleText(try renderer().error(reason: "no_certificate", language: .it))
        #expect(both.contains("Stai usando la Carta d'Identità Elettronica (CIE)?"))
        let cnsOnly = visibleText(try renderer([.cns]).error(reason: "no_certificate", language: .it))
        #expect(!cnsOnly.contains("CIE"))
        // A gateway taking the CIE alone speaks of the CIE even when the card is unknown.
        let cieOnly = visibleText(try renderer([.cie]).error(reason: "no_certificate", language: .it))
        #expect(cieOnly.contains("Non abbiamo ricevuto la tua CIE"))
    }

    @Test func verificaShowsTheKindAndTheDocumentNumber() throws {
        let report = CardReport(presented: true, reason: "ok", identity: try cieIdentity(), opensslError: "ok")
        let html = try renderer().verifica(report, language: .it)
        let text = visibleText(html)
        #expect(text.contains("Tipo di carta CIE (Carta d'Identità Elettronica)"))
        #expect(html.contains(#"<dd class="code">CA00000AA</dd>"#))
        #expect(text.contains("Carta valida: sarebbe accettata"))
        let refused = CardReport(presented: true, reason: "revoked", identity: try cieIdentity())
        let english = visibleText(try renderer().verifica(refused, language: .en))
        #expect(english.contains("The CIE has been revoked") && english.contains("Card CIE (electronic identity card)"))
        let cns = visibleText(try renderer().verifica(CardReport(presented: true, reason: "ok", identity: try identity()), language: .it))
        #expect(cns.contains("Tipo di carta TS-CNS"))
    }

    @Test func aTLS13OnlyGatewaySaysTheCIECannotLogIn() throws {
        let blocked = try renderer(blocked: true)
        for html in [blocked.landing(.it), blocked.cieHelp(.it), blocked.error(reason: "no_certificate", language: .it)] {
            #expect(visibleText(html).contains("Accesso con CIE non disponibile."))
        }
        #expect(visibleText(blocked.landing(.en)).contains("Logging in with the CIE is not available."))
        #expect(!visibleText(try renderer().landing(.it)).contains("non disponibile"))
        // Without the CIE there is nothing to warn about.
        #expect(!visibleText(try renderer([.cns], blocked: true).landing(.it)).contains("CIE"))
    }

    @Test func everyCIEWordingIsCompleteInBothLanguages() throws {
        let pages = try renderer()
        for language in PageLanguage.allCases {
            for reason in PageRenderer.reasons {
                let html = pages.error(reason: reason, language: language, cardKind: .cie)
                #expect(html.contains("<h1>") && !html.contains("<h1></h1>"), "\(reason)/\(language)")
            }
        }
    }
}
