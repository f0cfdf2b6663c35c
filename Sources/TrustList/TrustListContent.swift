public import FoundationEssentials

/// The scheme information a trusted list declares about itself (TS 119 612 5.3).
public struct TrustListHeader: Sendable, Equatable {
    public var sequenceNumber: Int
    public var issueDate: Date?
    /// Nil for a closed list (NextUpdate present but empty, 5.3.15).
    public var nextUpdate: Date?
    public var territory: String
    public var operatorName: String
}

/// One TSPService's current ServiceInformation (5.5); the service history is not read.
public struct TrustListService: Sendable, Equatable {
    /// 1-based position of the service in the list, for people to find it.
    public var index: Int
    public var provider: String
    public var name: String
    public var type: String
    public var status: String
    public var statusStart: Date?
    /// DER of every X509Certificate of the ServiceDigitalIdentity, in order; nil where the
    /// base64 does not decode.
    public var certificates: [[UInt8]?]
}

/// Reads the list's header and services from the document element's own children.
/// Called only on a document whose signature verified (`TrustListEvaluation`), and never
/// looks inside the ds:Signature, so what it returns is what the signature covered.
enum TrustListContent {
    static func read(_ document: XMLDocument) throws(TrustListError) -> (TrustListHeader, [TrustListService]) {
        guard let root = document.root, root.isElement("TrustServiceStatusList", in: Namespace.tsl) else {
            let found = document.root.map { "\($0.namespace.map { "{\($0)}" } ?? "")\($0.localName)" } ?? "nothing"
            throw TrustListError(.malformed, "the document element is \(found), not an ETSI TS 119 612 TrustServiceStatusList")
        }
        let schemes = root.children("SchemeInformation", in: Namespace.tsl)
        guard schemes.count == 1, let scheme = schemes.first else {
            throw TrustListError(.malformed, "\(schemes.count) SchemeInformation elements; expected one")
        }
        guard let sequenceText = scheme.child("TSLSequenceNumber", in: Namespace.tsl)?.trimmedText,
              let sequence = Int(sequenceText), sequence >= 1 else {
            throw TrustListError(.malformed, "SchemeInformation has no valid TSLSequenceNumber")
        }
        let issue = scheme.child("ListIssueDateTime", in: Namespace.tsl).flatMap { Timestamp.parse($0.trimmedText) }
        guard let nextUpdateElement = scheme.child("NextUpdate", in: Namespace.tsl) else {
            throw TrustListError(.malformed, "SchemeInformation has no NextUpdate")
        }
        var nextUpdate: Date? = nil
        if let dateTime = nextUpdateElement.child("dateTime", in: Namespace.tsl) {
            guard let parsed = Timestamp.parse(dateTime.trimmedText) else {
                throw TrustListError(.malformed, "NextUpdate \"\(dateTime.trimmedText)\" is not a date and time")
            }
            nextUpdate = parsed
        }
        let header = TrustListHeader(
            sequenceNumber: sequence, issueDate: issue, nextUpdate: nextUpdate,
            territory: scheme.child("SchemeTerritory", in: Namespace.tsl)?.trimmedText ?? "",
            operatorName: scheme.child("SchemeOperatorName", in: Namespace.tsl)?.preferredName(in: Namespace.tsl) ?? "")

        let lists = root.children("TrustServiceProviderList", in: Namespace.tsl)
        guard lists.count <= 1 else { throw TrustListError(.malformed, "\(lists.count) TrustServiceProviderList elements") }
        var services: [TrustListService] = []
        for provider in lists.first?.children("TrustServiceProvider", in: Namespace.tsl) ?? [] {
            let providerName = provider.path("TSPInformation", "TSPName", in: Namespace.tsl)?.preferredName(in: Namespace.tsl) ?? ""
            for service in provider.child("TSPServices", in: Namespace.tsl)?.children("TSPService", in: Namespace.tsl) ?? [] {
                guard let information = service.child("ServiceInformation", in: Namespace.tsl) else {
                    throw TrustListError(.malformed, "service \(services.count + 1) (\(providerName)) has no ServiceInformation")
                }
                let certificates = information.child("ServiceDigitalIdentity", in: Namespace.tsl)?
                    .children("DigitalId", in: Namespace.tsl)
                    .flatMap { $0.children("X509Certificate", in: Namespace.tsl) }
                    .map { Base64Text.decode($0.text) } ?? []
                services.append(TrustListService(
                    index: services.count + 1,
                    provider: providerName,
                    name: information.child("ServiceName", in: Namespace.tsl)?.preferredName(in: Namespace.tsl) ?? "",
                    type: information.child("ServiceTypeIdentifier", in: Namespace.tsl)?.trimmedText ?? "",
                    status: information.child("ServiceStatus", in: Namespace.tsl)?.trimmedText ?? "",
                    statusStart: information.child("StatusStartingTime", in: Namespace.tsl).flatMap { Timestamp.parse($0.trimmedText) },
                    certificates: certificates))
            }
        }
        return (header, services)
    }
}
