public import FoundationEssentials
public import TLS

/// What the configuration asks of a list: who may sign it, which services to take, and
/// the limits (`[trust_list]`, parsed in the Gateway module).
public struct TrustListPolicy: Sendable, Equatable {
    public static let identityVerification = "http://uri.etsi.org/TrstSvc/Svctype/IdV"
    public static let recognisedAtNationalLevel = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/recognisedatnationallevel"
    public static let granted = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"

    /// SHA-256 of the certificates allowed to sign the list: lowercase hex, no colons.
    public var signerFingerprints: Set<String>
    public var serviceTypes: [String]
    public var serviceStatuses: [String]
    public var maxSize: Int
    /// Seconds a list stays acceptable past its NextUpdate.
    public var nextUpdateGrace: Double

    public init(signerFingerprints: Set<String>, serviceTypes: [String] = [Self.identityVerification],
                serviceStatuses: [String] = [Self.recognisedAtNationalLevel, Self.granted],
                maxSize: Int = 16 << 20, nextUpdateGrace: Double = 0) {
        self.signerFingerprints = signerFingerprints
        self.serviceTypes = serviceTypes
        self.serviceStatuses = serviceStatuses
        self.maxSize = maxSize
        self.nextUpdateGrace = nextUpdateGrace
    }
}

/// What happens to one certificate of one service, and why.
public struct ServiceDecision: Sendable {
    public enum Reason: String, Sendable, CaseIterable {
        /// Taken: the type and status are configured and the certificate is a CA.
        case selected
        case serviceType = "service_type"
        case serviceStatus = "service_status"
        case noCertificate = "no_certificate"
        case unparsableCertificate = "unparsable_certificate"
        case notCACertificate = "not_ca_certificate"
    }

    public var service: TrustListService
    /// Nil when the service has no (decodable) certificate.
    public var certificate: CertificateSummary?
    public var reason: Reason
    /// For people: what exactly did not match, or "same certificate as service N".
    public var detail: String

    public var taken: Bool { reason == .selected }
}

/// A CA the import writes, with the service that listed it.
public struct SelectedCA: Sendable {
    public var certificate: CertificateSummary
    public var provider: String
    public var service: String
    public var serviceType: String
    public var status: String
    public var statusStart: Date?
}

enum TrustListSelection {
    /// One decision per certificate of every service (one for a service without any);
    /// the CAs are the taken certificates, each once, in list order.
    static func decide(_ services: [TrustListService], policy: TrustListPolicy) -> ([ServiceDecision], [SelectedCA]) {
        var decisions: [ServiceDecision] = []
        var cas: [SelectedCA] = []
        var takenBy: [String: Int] = [:]
        for service in services {
            let certificates: [[UInt8]?] = service.certificates.isEmpty ? [nil] : service.certificates
            for (position, der) in certificates.enumerated() {
                let summary = der.flatMap(CertificateSummary.init(der:))
                var decision = ServiceDecision(service: service, certificate: summary, reason: .selected, detail: "")
                if !policy.serviceTypes.contains(service.type) {
                    decision.reason = .serviceType
                    decision.detail = "type \(service.type) is not in service_types"
                } else if !policy.serviceStatuses.contains(service.status) {
                    decision.reason = .serviceStatus
                    decision.detail = "status \(service.status) is not in service_statuses"
                } else if service.certificates.isEmpty {
                    decision.reason = .noCertificate
                    decision.detail = "the service identity has no X509Certificate"
                } else if summary == nil {
                    decision.reason = .unparsableCertificate
                    decision.detail = "certificate \(position + 1) of the service does not parse"
                } else if let summary, !summary.isCA {
                    decision.reason = .notCACertificate
                    decision.detail = summary.basicConstraintsCA
                        ? "basicConstraints says CA but keyUsage lacks keyCertSign: OpenSSL refuses it as an issuer"
                        : "the certificate is not a CA certificate (no basicConstraints cA)"
                } else if let summary {
                    if let first = takenBy[summary.sha256] {
                        decision.detail = "same certificate as service \(first)"
                    } else {
                        takenBy[summary.sha256] = service.index
                        cas.append(SelectedCA(certificate: summary, provider: service.provider, service: service.name,
                                              serviceType: service.type, status: service.status, statusStart: service.statusStart))
                    }
                }
                decisions.append(decision)
            }
        }
        return (decisions, cas)
    }
}
