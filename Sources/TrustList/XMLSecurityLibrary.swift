import CXMLSec
import CXMLSecShims
import Synchronization

/// libxml2 and xmlsec set up once per process, and the lock every use takes.
///
/// xmlsec's error callback and libxml2's structured error handler are global (the latter
/// per thread); verification is rare (a list every few hours), so one lock around each
/// parse-and-verify keeps the collected messages belonging to the call that caused them.
enum XMLSecurityLibrary {
    private static let setUp: Result<Void, TrustListError> = {
        xmlInitParser()
        // No entity of any kind is ever loaded: documents with a DOCTYPE are refused
        // before parsing, and this loader refuses whatever might still ask.
        xmlSetExternalEntityLoader(refuseExternalEntity)
        guard xmlSecInit() == 0 else { return .failure(TrustListError(.malformed, "xmlSecInit failed")) }
        guard CXMLSecShims_xmlSecCheckVersion() == 1 else {
            return .failure(TrustListError(.malformed, "the xmlsec library does not match the headers this program was built with"))
        }
        guard xmlSecOpenSSLAppInit(nil) == 0, xmlSecOpenSSLInit() == 0 else {
            return .failure(TrustListError(.malformed, "xmlsec's OpenSSL backend failed to initialise"))
        }
        xmlSecErrorsSetCallback(collectXMLSecError)
        return .success(())
    }()

    /// Serialises parsing and verification (see above).
    private static let lock = Mutex<Void>(())

    static func ready() throws(TrustListError) {
        try setUp.get()
    }

    /// Runs `body` under the lock; returns its result and the messages xmlsec and libxml2
    /// reported meanwhile (for the refusal's reason).
    static func collecting<T>(_ body: () throws(TrustListError) -> T) throws(TrustListError) -> (T, [String]) {
        try ready()
        return try lock.withLock { _ throws(TrustListError) -> (T, [String]) in
            CollectedMessages.buffer.removeAll()
            xmlSetStructuredErrorFunc(nil, collectLibXMLError)
            defer {
                xmlSetStructuredErrorFunc(nil, nil)
                CollectedMessages.buffer.removeAll()
            }
            let value = try body()
            return (value, CollectedMessages.buffer)
        }
    }
}

/// The messages of the running `collecting` call. Only touched by the thread that holds
/// `XMLSecurityLibrary.lock` (the C callbacks run inside the call, on that thread).
private enum CollectedMessages {
    nonisolated(unsafe) static var buffer: [String] = []
    static func append(_ message: String) {
        if buffer.count < 20 { buffer.append(message) }
    }
}

private func refuseExternalEntity(_ url: UnsafePointer<CChar>?, _ id: UnsafePointer<CChar>?,
                                  _ context: xmlParserCtxtPtr?) -> xmlParserInputPtr? {
    nil
}

private func collectXMLSecError(_ file: UnsafePointer<CChar>?, _ line: Int32, _ function: UnsafePointer<CChar>?,
                                _ errorObject: UnsafePointer<CChar>?, _ errorSubject: UnsafePointer<CChar>?,
                                _ reason: Int32, _ message: UnsafePointer<CChar>?) {
    let subject = errorSubject.map { String(cString: $0) } ?? ""
    let text = message.map { String(cString: $0) } ?? ""
    let where_ = function.map { String(cString: $0) } ?? ""
    CollectedMessages.append("\(where_)\(subject.isEmpty || subject == "unknown" ? "" : " \(subject)"): \(text)")
}

private func collectLibXMLError(_ context: UnsafeMutableRawPointer?, _ error: xmlErrorPtr?) {
    guard let message = error?.pointee.message else { return }
    CollectedMessages.append(String(cString: message).trimmedXML)
}
