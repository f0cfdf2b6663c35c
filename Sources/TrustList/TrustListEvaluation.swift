public import FoundationEssentials

/// A list that passed every check, with the CAs to write.
public struct VerifiedTrustList: Sendable {
    public var header: TrustListHeader
    public var signer: SignerInfo
    public var decisions: [ServiceDecision]
    public var cas: [SelectedCA]
    /// SHA-256 of the list's bytes, lowercase hex.
    public var listSHA256: String
}

/// Everything learnt about a list and the verdict. Pure: bytes and settings in, this out;
/// reading the source and writing the CA directory happen elsewhere (`TrustListSource`,
/// `TrustListDirectory`), so the scheduled refresh, the CLI and the tests share it.
///
/// On a refused list the header, signer and decisions are filled in as far as the list
/// could be read, for `verify` and `show` to explain; none of it is ever applied.
public struct TrustListEvaluation: Sendable {
    public var size: Int
    public var header: TrustListHeader?
    /// Who the KeyInfo certificate says signed it (checked or not, see `verdict`).
    public var signer: SignerInfo?
    public var decisions: [ServiceDecision]
    public var verdict: Result<VerifiedTrustList, TrustListError>

    public var error: TrustListError? {
        if case .failure(let error) = verdict { error } else { nil }
    }

    /// - Parameters:
    ///   - sequenceInUse: the TSLSequenceNumber of the list applied last (from the CA
    ///     directory's manifest), nil before the first import. A lower one is a rollback.
    public static func evaluate(_ bytes: [UInt8], policy: TrustListPolicy, sequenceInUse: Int?,
                                now: Date = Date()) -> TrustListEvaluation {
        var result = TrustListEvaluation(size: bytes.count, header: nil, signer: nil, decisions: [],
                                         verdict: .failure(TrustListError(.malformed)))
        guard bytes.count <= policy.maxSize else {
            result.verdict = .failure(TrustListError(.tooLarge, "\(bytes.count) bytes is over max_size (\(policy.maxSize))"))
            return result
        }
        do throws(TrustListError) {
            let (_, messages) = try XMLSecurityLibrary.collecting { () throws(TrustListError) -> Void in
                let document: XMLDocument
                do throws(TrustListError) {
                    document = try XMLDocument.parse(bytes)
                } catch {
                    result.verdict = .failure(error)
                    return
                }
                // Read before the signature is checked, to explain a refusal; applied only
                // once the signature verified (the same document, so the same content).
                let content = Result { () throws(TrustListError) in try TrustListContent.read(document) }
                result.signer = ListSignature.claimedSigner(document, pins: policy.signerFingerprints)
                let selection = (try? content.get()).map { TrustListSelection.decide($0.1, policy: policy) }
                if let selection { result.decisions = selection.0 }
                result.header = try? content.get().0
                let signer: SignerInfo
                do throws(TrustListError) {
                    signer = try ListSignature.verify(document, pins: policy.signerFingerprints, now: now)
                } catch {
                    result.verdict = .failure(error)
                    return
                }
                result.verdict = content.flatMap { header, services in
                    check(header, services: services.count, selection: selection ?? TrustListSelection.decide(services, policy: policy), signer: signer, bytes: bytes,
                          policy: policy, sequenceInUse: sequenceInUse, now: now)
                }
            }
            if case .failure(var error) = result.verdict, error.code == .badSignature, !messages.isEmpty {
                error.reason += " (xmlsec: \(messages.suffix(3).joined(separator: "; ")))"
                result.verdict = .failure(error)
            }
        } catch {
            result.verdict = .failure(error)
        }
        return result
    }

    private static func check(_ header: TrustListHeader, services: Int, selection: ([ServiceDecision], [SelectedCA]),
                              signer: SignerInfo, bytes: [UInt8], policy: TrustListPolicy, sequenceInUse: Int?,
                              now: Date) -> Result<VerifiedTrustList, TrustListError> {
        guard let nextUpdate = header.nextUpdate else {
            return .failure(TrustListError(.pastNextUpdate, "the list is closed (NextUpdate has no date): its scheme operator stopped publishing it"))
        }
        if now > nextUpdate.addingTimeInterval(policy.nextUpdateGrace) {
            return .failure(TrustListError(.pastNextUpdate, "NextUpdate was \(Timestamp.text(nextUpdate)) (grace \(Int(policy.nextUpdateGrace)) s): a newer list should exist"))
        }
        if let sequenceInUse, header.sequenceNumber < sequenceInUse {
            return .failure(TrustListError(.rollback, "TSLSequenceNumber \(header.sequenceNumber) is lower than \(sequenceInUse), the one in use"))
        }
        let (decisions, cas) = selection
        guard !cas.isEmpty else {
            return .failure(TrustListError(.emptySelection, "no service of the \(services) matches service_types and service_statuses with a CA certificate"))
        }
        return .success(VerifiedTrustList(header: header, signer: signer, decisions: decisions, cas: cas,
                                          listSHA256: Digest.sha256Hex(bytes)))
    }
}
