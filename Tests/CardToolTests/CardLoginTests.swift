import Foundation
import Outbound
import SmartCard
import TestSupport
import Testing
import TLS
import VirtualCard
@testable import cns_card

/// cns-card's login without pcscd: the virtual card's emulator in memory is the card, and its
/// key signs a real TLS handshake with a server (the gateway's own TLS context) that requires
/// the client certificate.
@Suite struct CardLoginTests {
    static let cardKey = TestKey.rsa(bits: 2048)

    final class World: @unchecked Sendable {
        // @unchecked: built in init, read afterwards.
        let dir = TestPKI.directory("card-login")
        let ca = TestPKI.ca("Card Login Test CA")
        let certificate: TestCertificate
        let card: CNSCard
        let caFile: String

        init() throws {
            certificate = TestPKI.client("RSSMRA80A01H501U/6120016461039008.abc", issuer: ca, key: CardLoginTests.cardKey)
            caFile = dir.write("ca.pem", ca.pem)
            let key = try CardKey(contentsOf: Array(CardLoginTests.cardKey.pem.utf8))
            let profile = VirtualCardProfile(
                atr: VirtualCardProfile.defaultATR(), cardID: "6120016461039008",
                personalData: try ProfileDerivation.personalData(from: X509Certificate(pemOrDER: Array(certificate.pem.utf8))).encoded(),
                certificate: certificate.der, pin: try CardSecret("12345", kind: .pin), puk: try CardSecret("87654321", kind: .puk))
            let emulator = CNSCardEmulator(profile: profile, key: key)
            card = CNSCard(transport: emulator, atr: emulator.atr)
        }

        deinit { dir.remove() }

        /// A server that demands a client certificate of this world's CA.
        func server(versions: [TLSVersion]) throws -> OneShotServer {
            let key = TestKey.ecP256()
            let chain = dir.write("server.pem", TestPKI.server(["127.0.0.1"], issuer: ca, key: key).pem + ca.pem)
            let keyFile = dir.write("server.key", key.pem)
            let trust = try TrustStore(TrustSources(caBundle: caFile, crls: [], revocation: .bestEffort, legacyIssuers: []))
            let context = try TLSContext(TLSContextConfiguration(certificateChainFile: chain, privateKeyFile: keyFile,
                                                                 clientCertificate: .require, versions: versions, sendCANames: true),
                                         trust: trust)
            return try OneShotServer(response: bytes("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nwelcome"), tls: context)
        }

        func login(_ url: String, version: TLSVersionChoice) throws -> (FetchResponse, CardSigner) {
            let x509 = try X509Certificate(pemOrDER: try card.readCertificate())
            let signer = CardSigner(card: card, modulusLength: try #require(x509.rsaModulusLength))
            let identity = try TLSClientIdentity(certificate: x509, operation: signer)
            let response = try TLSLogin.get(try TLSLogin.url(url), caFile: caFile, version: version, identity: identity, signer: signer)
            return (response, signer)
        }
    }

    @Test(arguments: [(TLSVersionChoice.tls12, "RSA PKCS#1 v1.5", "TLSv1.2"), (.tls13, "RSA-PSS", "TLSv1.3")])
    func theCardSignsTheHandshake(version: TLSVersionChoice, scheme: String, protocolName: String) throws {
        let world = try World()
        let server = try world.server(versions: [.tls12, .tls13])
        try world.card.verify(pin: try CardSecret("12345", kind: .pin))
        let (response, signer) = try world.login("https://127.0.0.1:\(server.port)", version: version)
        #expect(response.head.status == 200)
        #expect(response.body == bytes("welcome"))
        #expect(response.tlsVersion == protocolName)
        #expect(signer.schemes == [scheme])
        #expect(server.request.hasPrefix("GET /whoami HTTP/1.1\r\n"))
        #expect(server.request.contains("User-Agent: cns-card\r\n"))
    }

    @Test func withoutThePINTheCardRefusesAndTheLoginSaysSo() throws {
        let world = try World()
        let server = try world.server(versions: [.tls12])
        do {
            _ = try world.login("https://127.0.0.1:\(server.port)/whoami", version: .tls12)
            Issue.record("a login without the PIN succeeded")
        } catch let error as LoginError {
            #expect(error.code == .card)
            #expect(error.reason.hasPrefix("the card could not sign the handshake"))
        }
        #expect(server.request.isEmpty)
    }

    @Test func anUntrustedGatewayIsRefusedBeforeTheCardSigns() throws {
        let world = try World()
        let server = try world.server(versions: [.tls12])
        try world.card.verify(pin: try CardSecret("12345", kind: .pin))
        let other = world.dir.write("other.pem", TestPKI.ca("Not The Gateway's CA").pem)
        let x509 = try X509Certificate(pemOrDER: try world.card.readCertificate())
        let signer = CardSigner(card: world.card, modulusLength: try #require(x509.rsaModulusLength))
        let identity = try TLSClientIdentity(certificate: x509, operation: signer)
        #expect(throws: LoginError(.fetch, "")) {
            try TLSLogin.get(try TLSLogin.url("https://127.0.0.1:\(server.port)"), caFile: other, version: .tls12,
                             identity: identity, signer: signer)
        }
        #expect(signer.schemes.isEmpty)
    }

    @Test func gatewayURLs() throws {
        #expect(try TLSLogin.url("https://login.example:8443").target == "/whoami")
        #expect(try TLSLogin.url("https://login.example:8443/").target == "/")
        #expect(try TLSLogin.url("https://[::1]:8443/verifica?lang=en").target == "/verifica?lang=en")
        #expect(throws: LoginError(.url, "")) { try TLSLogin.url("http://login.example/") }
        #expect(throws: LoginError(.url, "")) { try TLSLogin.url("https://user:pw@login.example/") }
    }
}
