import CXMLSec
import CXMLSecShims
public import FoundationEssentials
import TLS

enum Namespace {
    static let tsl = "http://uri.etsi.org/02231/v2#"
    static let dsig = "http://www.w3.org/2000/09/xmldsig#"
    static let xades = "http://uri.etsi.org/01903/v1.3.2#"
}

enum Algorithm {
    static let enveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    static let canonicalisations: Set<String> = [
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2006/12/xml-c14n11",
    ]
    static let signedPropertiesType = "http://uri.etsi.org/01903#SignedProperties"
}

/// The certificate that signed a list, as `verify` reports it.
public struct SignerInfo: Sendable, Equatable {
    public var subject: String
    /// Lowercase hex, no colons.
    public var sha256: String
    public var notBefore: Date?
    public var notAfter: Date?
    /// One of the configured `signer_certificates`.
    public var pinned: Bool
}

/// Verifies the enveloped XAdES signature of a trusted list with xmlsec, after checking
/// that the signature has the one shape TS 119 612 5.7 allows, so that what the signature
/// covers is exactly what the importer reads:
///
/// - one ds:Signature in the document, a child of the document element;
/// - two references: URI="" with the enveloped-signature transform (the whole list but
///   this signature) and the XAdES SignedProperties of this signature;
/// - no other transform than canonicalisation, no other URI kind (no file, no network);
/// - the key is the one of the KeyInfo certificate that `signer_certificates` pins, loaded
///   by us from that certificate; KeyInfo is never used to find a key.
///
/// Everything the importer reads afterwards comes from the document element's own
/// children, never from inside the signature, so a second copy of the list wrapped in a
/// ds:Object (signature wrapping) is never what gets imported.
enum ListSignature {
    static func verify(_ document: XMLDocument, pins: Set<String>, now: Date) throws(TrustListError) -> SignerInfo {
        guard let root = document.root else { throw TrustListError(.malformed, "no document element") }
        var signatures: [XMLElement] = []
        root.descendants { if $0.isElement("Signature", in: Namespace.dsig) { signatures.append($0) } }
        guard let signature = signatures.first else {
            throw TrustListError(.missingSignature, "the list carries no ds:Signature")
        }
        guard signatures.count == 1 else {
            throw TrustListError(.signatureCoverage, "\(signatures.count) ds:Signature elements; a trusted list has exactly one")
        }
        guard signature.node.pointee.parent == UnsafeMutablePointer(root.node) else {
            throw TrustListError(.signatureCoverage, "the ds:Signature is not a child of the list's document element")
        }
        let signedPropertiesID = try checkReferences(signature)
        try registerSignedProperties(signature, id: signedPropertiesID, root: root)

        let certificates = try keyInfoCertificates(signature)
        guard let first = certificates.first else {
            throw TrustListError(.unpinnedSigner, "KeyInfo carries no X509Certificate, so the signer cannot be checked against signer_certificates")
        }
        guard let signer = certificates.first(where: { pins.contains($0.sha256) }) else {
            throw TrustListError(.unpinnedSigner, "signed by \(first.subject) (SHA-256 \(first.sha256)), which signer_certificates does not list")
        }
        let info = SignerInfo(subject: signer.subject, sha256: signer.sha256, notBefore: signer.notBefore,
                              notAfter: signer.notAfter, pinned: true)
        try verifySignature(signature, signer: signer)
        guard signer.isValid(at: now) else {
            throw TrustListError(.signerNotValid, "the signer certificate \(signer.subject) is valid \(signer.notBefore.map(Timestamp.text) ?? "?") to \(signer.notAfter.map(Timestamp.text) ?? "?")")
        }
        return info
    }

    /// Who signed, without deciding anything: for `verify` output on a refused list.
    static func claimedSigner(_ document: XMLDocument, pins: Set<String>) -> SignerInfo? {
        guard let root = document.root else { return nil }
        var found: XMLElement?
        root.descendants { if found == nil, $0.isElement("Signature", in: Namespace.dsig) { found = $0 } }
        guard let signature = found, let certificate = try? keyInfoCertificates(signature).first else { return nil }
        return SignerInfo(subject: certificate.subject, sha256: certificate.sha256, notBefore: certificate.notBefore,
                          notAfter: certificate.notAfter, pinned: pins.contains(certificate.sha256))
    }

    /// Checks SignedInfo's references; returns the Id of the SignedProperties the second one names.
    private static func checkReferences(_ signature: XMLElement) throws(TrustListError) -> String {
        guard let signedInfo = signature.child("SignedInfo", in: Namespace.dsig) else {
            throw TrustListError(.signatureCoverage, "ds:Signature has no SignedInfo")
        }
        let references = signedInfo.children("Reference", in: Namespace.dsig)
        guard references.count == 2 else {
            throw TrustListError(.signatureCoverage, "SignedInfo has \(references.count) references; expected the list (URI=\"\") and the XAdES SignedProperties")
        }
        let whole = references.filter { $0.attribute("URI") == "" }
        let properties = references.filter { $0.attribute("Type") == Algorithm.signedPropertiesType }
        guard whole.count == 1, properties.count == 1, whole[0].node != properties[0].node else {
            throw TrustListError(.signatureCoverage, "no reference with URI=\"\" to the whole list, or no XAdES SignedProperties reference")
        }
        let wholeTransforms = transforms(of: whole[0])
        guard wholeTransforms.first == Algorithm.enveloped,
              wholeTransforms.dropFirst().allSatisfy({ Algorithm.canonicalisations.contains($0) }), wholeTransforms.count <= 2 else {
            throw TrustListError(.signatureCoverage, "the reference to the list must use the enveloped-signature transform and at most a canonicalisation (found \(wholeTransforms))")
        }
        let propertyTransforms = transforms(of: properties[0])
        guard propertyTransforms.allSatisfy({ Algorithm.canonicalisations.contains($0) }), propertyTransforms.count <= 1 else {
            throw TrustListError(.signatureCoverage, "the SignedProperties reference may only be canonicalised (found \(propertyTransforms))")
        }
        guard let uri = properties[0].attribute("URI"), uri.hasPrefix("#"), uri.count > 1 else {
            throw TrustListError(.signatureCoverage, "the SignedProperties reference does not name an element of this document (#Id)")
        }
        return String(uri.dropFirst())
    }

    private static func transforms(of reference: XMLElement) -> [String] {
        reference.child("Transforms", in: Namespace.dsig)?.children("Transform", in: Namespace.dsig)
            .map { $0.attribute("Algorithm") ?? "" } ?? []
    }

    /// The SignedProperties must be this signature's own (ds:Object/xades:QualifyingProperties),
    /// and its Id unique in the document, so "#Id" cannot resolve to a planted copy. The Id
    /// is then registered as an ID attribute (there is no DTD to declare it).
    private static func registerSignedProperties(_ signature: XMLElement, id: String, root: XMLElement) throws(TrustListError) {
        var candidates: [XMLElement] = []
        for object in signature.children("Object", in: Namespace.dsig) {
            for qualifying in object.children("QualifyingProperties", in: Namespace.xades) {
                candidates += qualifying.children("SignedProperties", in: Namespace.xades).filter { $0.attribute("Id") == id }
            }
        }
        guard candidates.count == 1, let target = candidates.first, let attribute = target.attributeNode("Id") else {
            throw TrustListError(.signatureCoverage, "the SignedProperties reference (#\(id)) does not name this signature's xades:SignedProperties")
        }
        var holders = 0
        root.descendants { element in
            holders += element.attributes.filter { $0.value == id && ["Id", "ID", "id"].contains($0.name) }.count
        }
        guard holders == 1 else {
            throw TrustListError(.signatureCoverage, "the Id \"\(id)\" appears \(holders) times in the document")
        }
        guard withXMLChars(id, { xmlAddID(nil, target.node.pointee.doc, $0, attribute) }) != nil else {
            throw TrustListError(.signatureCoverage, "the Id \"\(id)\" is already an ID of another element")
        }
    }

    private static func keyInfoCertificates(_ signature: XMLElement) throws(TrustListError) -> [CertificateSummary] {
        guard let keyInfo = signature.child("KeyInfo", in: Namespace.dsig) else { return [] }
        var result: [CertificateSummary] = []
        for data in keyInfo.children("X509Data", in: Namespace.dsig) {
            for element in data.children("X509Certificate", in: Namespace.dsig) {
                guard let der = Base64Text.decode(element.text), let certificate = CertificateSummary(der: der) else {
                    throw TrustListError(.unpinnedSigner, "a KeyInfo X509Certificate does not decode")
                }
                result.append(certificate)
            }
        }
        return result
    }

    private static func allowedReferenceTransforms() -> [xmlSecTransformId?] { [
        CXMLSecShims_xmlSecTransformEnvelopedId(), CXMLSecShims_xmlSecTransformExclC14NId(),
        CXMLSecShims_xmlSecTransformInclC14NId(), CXMLSecShims_xmlSecTransformInclC14N11Id(),
        CXMLSecShims_xmlSecOpenSSLTransformSha256Id(), CXMLSecShims_xmlSecOpenSSLTransformSha384Id(),
        CXMLSecShims_xmlSecOpenSSLTransformSha512Id(),
    ] }

    private static func allowedSignatureTransforms() -> [xmlSecTransformId?] { [
        CXMLSecShims_xmlSecTransformExclC14NId(), CXMLSecShims_xmlSecTransformInclC14NId(),
        CXMLSecShims_xmlSecTransformInclC14N11Id(),
        CXMLSecShims_xmlSecOpenSSLTransformRsaSha256Id(), CXMLSecShims_xmlSecOpenSSLTransformRsaSha384Id(),
        CXMLSecShims_xmlSecOpenSSLTransformRsaSha512Id(), CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha256Id(),
        CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha384Id(), CXMLSecShims_xmlSecOpenSSLTransformEcdsaSha512Id(),
    ] }

    /// xmlsec does the canonicalisation, digests and signature check.
    private static func verifySignature(_ signature: XMLElement, signer: CertificateSummary) throws(TrustListError) {
        let key: xmlSecKeyPtr? = signer.der.withUnsafeBufferPointer {
            xmlSecOpenSSLAppKeyLoadMemory($0.baseAddress, numericCast($0.count), xmlSecKeyDataFormatCertDer, nil, nil, nil)
        }
        guard let key else {
            throw TrustListError(.badSignature, "cannot take a verification key from the signer certificate \(signer.subject)")
        }
        guard let context = xmlSecDSigCtxCreate(nil) else {
            xmlSecKeyDestroy(key)
            throw TrustListError(.badSignature, "cannot create an xmlsec signature context")
        }
        defer { xmlSecDSigCtxDestroy(context) }
        // The context owns the key from here, and never looks at KeyInfo for another one
        // (it has no keys manager): the key is the pinned certificate's.
        context.pointee.signKey = key
        context.pointee.flags |= UInt32(XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS)
        context.pointee.enabledReferenceUris = xmlSecTransformUriType(xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument)
        for id in allowedReferenceTransforms() where xmlSecDSigCtxEnableReferenceTransform(context, id) < 0 {
            throw TrustListError(.badSignature, "cannot restrict the reference transforms")
        }
        for id in allowedSignatureTransforms() where xmlSecDSigCtxEnableSignatureTransform(context, id) < 0 {
            throw TrustListError(.badSignature, "cannot restrict the signature transforms")
        }
        guard xmlSecDSigCtxVerify(context, signature.node) == 0 else {
            throw TrustListError(.badSignature, "xmlsec could not process the signature")
        }
        guard context.pointee.status == xmlSecDSigStatusSucceeded else {
            throw TrustListError(.badSignature, "the signature does not verify with the key of \(signer.subject): the list or its signed properties were changed after signing")
        }
        // What xmlsec verified must be the two references checked above, each succeeded.
        let listOffset = MemoryLayout<xmlSecDSigCtx>.offset(of: \.signedInfoReferences)!
        let list = (UnsafeMutableRawPointer(context) + listOffset).assumingMemoryBound(to: xmlSecPtrList.self)
        let count = xmlSecPtrListGetSize(list)
        guard count == 2 else {
            throw TrustListError(.signatureCoverage, "xmlsec processed \(count) references, expected 2")
        }
        for index in 0..<count {
            guard let raw = xmlSecPtrListGetItem(list, index) else {
                throw TrustListError(.signatureCoverage, "reference \(index + 1) missing after verification")
            }
            let reference = raw.assumingMemoryBound(to: xmlSecDSigReferenceCtx.self)
            guard reference.pointee.status == xmlSecDSigStatusSucceeded else {
                throw TrustListError(.badSignature, "reference \(index + 1) does not verify")
            }
        }
    }
}

/// Base64 as XML carries it: line breaks and spaces allowed anywhere.
enum Base64Text {
    static func decode(_ text: String) -> [UInt8]? {
        let compact = text.filter { !($0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n") }
        guard !compact.isEmpty, let data = Data(base64Encoded: compact) else { return nil }
        return [UInt8](data)
    }
}
