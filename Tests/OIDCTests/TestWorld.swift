import Crypto
import Foundation
import CNS
import HTTP1
import JSON
@testable import OIDC

/// A provider with an in-memory store, a fixed clock and two clients, built per test.
final class TestWorld: @unchecked Sendable {
    // @unchecked: tests mutate `time` from one task only.
    static let issuer = "https://login.example.it"
    static let secret = "s3cret-for-tests"
    static let secretHash = SecretHash.make(secret: secret, iterations: SecretHash.minimumIterations)
    static let clientKey = P256.Signing.PrivateKey()

    let store = MemoryStore()
    let provider: Provider
    let clock: Clock

    final class Clock: @unchecked Sendable {
        // @unchecked: set between requests by the single test task.
        var time: Double = 1_800_000_000
    }

    static let subject = LoginSubject(codiceFiscale: "BNCLRA85T41F205Y", givenName: "LAURA", familyName: "BIANCHI",
                                      cardID: "6120016461039008", administration: "REGIONE LOMBARDIA",
                                      certificateSerial: "0A1B2C", certificateIssuer: "C=IT, O=Test, CN=Test CA",
                                      thumbprint: String(repeating: "ab", count: 32))

    static var clientJWK: JSONValue {
        let raw = [UInt8](clientKey.publicKey.rawRepresentation)
        return ["kty": "EC", "crv": "P-256", "x": .string(Base64URL.encode(raw[0..<32])), "y": .string(Base64URL.encode(raw[32..<64])),
                "kid": "client-key-1"]
    }

    /// `boundClient` adds "cup-web", a public client in the browser registered for
    /// certificate-bound access tokens (RFC 8705).
    init(interstitial: Bool = true, subjectType: SubjectType = .public, signing: JWSAlgorithm = .es256, boundClient: Bool = false,
         clientAuthLimits: ClientAuthLimiter.Settings = ClientAuthLimiter.Settings(),
         auditThrottle: AuditThrottle.Settings = AuditThrottle.Settings()) {
        let clock = Clock()
        self.clock = clock
        var clients = [
            ClientRegistration(id: "fse", name: "Fascicolo sanitario", secretHash: Self.secretHash,
                               redirectURIs: ["https://fse.example.it/callback", "http://127.0.0.1:9999/cb"],
                               postLogoutRedirectURIs: ["https://fse.example.it/bye"], idTokenAlgorithm: signing, subjectType: subjectType),
            ClientRegistration(id: "spa", name: "Prenotazioni", redirectURIs: ["https://cup.example.it/cb"]),
            ClientRegistration(id: "jwtclient", keys: [try! VerificationKey(jwk: Self.clientJWK)],
                               redirectURIs: ["https://bandi.example.it/cb"]),
            ClientRegistration(id: "anagrafe", name: "Anagrafe", secretHash: Self.secretHash,
                               redirectURIs: ["https://anagrafe.example.it/cb"], cardKinds: [.cns]),
        ]
        if boundClient {
            clients.append(ClientRegistration(id: "cup-web", name: "Prenotazioni (web)", redirectURIs: ["https://cup.example.it/app"],
                                              certificateBoundAccessTokens: true))
        }
        let configuration = ProviderConfiguration(issuer: Self.issuer, loginBaseURL: "https://login.example.it:8443",
                                                  interstitial: interstitial, signingAlgorithm: .es256, clients: clients,
                                                  clientAuthLimits: clientAuthLimits, auditThrottle: auditThrottle)
        let now = Int(clock.time)
        let keys = try! KeySet(keys: []).completed(with: configuration.requiredAlgorithms, now: now).0
        provider = Provider(configuration: configuration, keys: keys, store: store, pairwiseSalt: Array(repeating: 7, count: 32),
                            now: { Date(timeIntervalSince1970: clock.time) })
    }

    /// `certificate`: the lowercase hex SHA-256 of the client certificate on the connection.
    func info(card: CardLogin? = CardLogin(reason: "ok", subject: TestWorld.subject), login: Bool = true,
              cookie: String? = nil, certificate: String? = nil, address: String = "192.0.2.1") -> ProviderRequestInfo {
        ProviderRequestInfo(requestsClientCertificate: login, clientAddress: address, cookieHeader: cookie,
                            clientCertificateThumbprint: certificate,
                            card: card ?? CardLogin(reason: "no_certificate", subject: nil))
    }

    func get(_ target: String, _ info: ProviderRequestInfo? = nil) -> OIDCOutcome? {
        provider.handle(HTTPRequest(method: "GET", target: target), info: info ?? self.info())
    }

    func post(_ path: String, form: [(String, String)], headers: [HTTPHeader] = [], info: ProviderRequestInfo? = nil) -> HTTPResponse {
        let request = HTTPRequest(method: "POST", target: path,
                                  headers: [HTTPHeader(name: "Content-Type", value: "application/x-www-form-urlencoded")] + headers,
                                  body: Array(FormEncoder.encode(form).utf8))
        guard case .response(let response)? = provider.handle(request, info: info ?? self.info(login: false)) else {
            fatalError("expected a response for \(path)")
        }
        return response
    }

    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    static var defaultExtra: [(String, String)] { [("code_challenge", challenge), ("code_challenge_method", "S256")] }
    static let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

    static func authorizeQuery(client: String = "fse", redirect: String = "https://fse.example.it/callback",
                               extra: [(String, String)] = [("code_challenge", challenge), ("code_challenge_method", "S256")]) -> String {
        "/authorize?" + FormEncoder.encode([("client_id", client), ("redirect_uri", redirect), ("response_type", "code"),
                                            ("scope", "openid profile fiscal_number cns"), ("state", "st-1"), ("nonce", "n-1")] + extra)
    }

    /// Runs /authorize on the login listener and returns the code from the redirect.
    func code(client: String = "fse", redirect: String = "https://fse.example.it/callback", cookie: String? = nil,
              extra: [(String, String)] = [("code_challenge", challenge), ("code_challenge_method", "S256")],
              card: CardLogin = CardLogin(reason: "ok", subject: TestWorld.subject)) -> (code: String, response: HTTPResponse)? {
        guard case .response(let response)? = get(Self.authorizeQuery(client: client, redirect: redirect, extra: extra),
                                                  info(card: card, cookie: cookie)),
              response.status == 302, let location = response.headers.first(named: "Location"),
              let query = location.split(separator: "?", maxSplits: 1).last,
              let code = FormURLEncoding.decode(query.utf8).first(where: { $0.name == "code" })?.value else { return nil }
        return (code, response)
    }

    static func basic(_ id: String = "fse", _ secret: String = TestWorld.secret) -> HTTPHeader {
        HTTPHeader(name: "Authorization", value: "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString())
    }

    func redeem(_ code: String, verifier: String = TestWorld.verifier, auth: HTTPHeader = TestWorld.basic()) -> HTTPResponse {
        post("/token", form: [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://fse.example.it/callback"),
                              ("code_verifier", verifier)], headers: [auth])
    }
}

extension HTTPResponse {
    var json: JSONValue { JSONValue.decode(body) ?? .null }
    var text: String { String(decoding: body, as: UTF8.self) }
}
