import ArgumentParser
import Foundation
import Outbound
import SmartCard
import TLS

struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in to a cns-gateway with the card and print the identity it returns.",
        discussion: "The TLS CertificateVerify is signed on the card: PKCS#1 v1.5 over TLS 1.2, RSA-PSS over TLS 1.3.")

    @Argument(help: "The gateway URL, e.g. https://login.example:8443 (path /whoami by default).")
    var url: String

    @Option(help: "CA certificate(s) to trust for the gateway's certificate (PEM).")
    var cacert: String?

    @Option(help: "TLS version: auto, 1.2 or 1.3.")
    var tls: String = "auto"

    @OptionGroup var readerOptions: ReaderOptions
    @OptionGroup var secretOptions: SecretOptions

    func validate() throws {
        guard TLSVersionChoice(rawValue: tls) != nil else { throw ValidationError("--tls is auto, 1.2 or 1.3") }
    }

    func run() throws {
        let target = try TLSLogin.url(url)
        let pin = try SecretInput(options: secretOptions).read(.pin, prompt: "PIN: ")
        var result: FetchResponse?
        var schemes: [String] = []
        var loginFailure: LoginError?
        try runReportingErrors {
            let session = try CardSession(options: readerOptions)
            defer { session.close(afterPIN: true) }
            try session.requireCNS()
            try session.connection.withTransaction { () throws(SmartCardError) in
                let certificate = try session.card.readCertificate()
                do throws(SmartCardError) {
                    try session.card.verify(pin: pin)
                } catch {
                    if let message = PINCommand.explain(error) { print(message) }
                    throw error
                }
                do throws(LoginError) {
                    let x509: X509Certificate
                    let identity: TLSClientIdentity
                    let signer: CardSigner
                    do throws(TLSError) {
                        x509 = try X509Certificate(pemOrDER: certificate)
                        guard let modulus = x509.rsaModulusLength else { throw TLSError(.privateKey, "the card's certificate does not hold an RSA key") }
                        signer = CardSigner(card: session.card, modulusLength: modulus)
                        identity = try TLSClientIdentity(certificate: x509, operation: signer)
                    } catch {
                        throw LoginError(.certificate, error.reason)
                    }
                    result = try TLSLogin.get(target, caFile: cacert, version: TLSVersionChoice(rawValue: tls) ?? .auto,
                                              identity: identity, signer: signer)
                    schemes = signer.schemes
                } catch {
                    loginFailure = error
                }
            }
        }
        if let loginFailure {
            Output.error(loginFailure.description)
            throw ExitCode(5)
        }
        guard let result else { throw ExitCode(5) }
        FileHandle.standardOutput.write(Data(result.body))
        if result.body.last != 10 { print("") }
        Output.error("\(result.tlsVersion ?? "") \(result.cipher ?? ""); CertificateVerify signed on the card with \(schemes.joined(separator: ", "))")
        guard result.head.status == 200 else {
            Output.error("the gateway answered HTTP \(result.head.status)")
            throw ExitCode(6)
        }
        if let identity = try? JSONSerialization.jsonObject(with: Data(result.body)) as? [String: Any],
           let certificate = identity["client_certificate"] as? [String: Any],
           let subject = certificate["subject"] as? String {
            let verdict = (identity["verdict"] as? [String: Any])?["reason"] as? String ?? "?"
            Output.error("Gateway verdict: \(verdict)")
            Output.error("Subject: \(subject)")
            if let cn = subject.components(separatedBy: ", ").first(where: { $0.hasPrefix("CN=") }),
               let slash = cn.firstIndex(of: "/") {
                Output.error("Codice Fiscale: \(cn[cn.index(cn.startIndex, offsetBy: 3)..<slash])")
            }
        } else {
            Output.error("the gateway returned no client certificate identity")
            throw ExitCode(6)
        }
    }
}
