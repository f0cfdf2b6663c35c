import CXMLSec
import CXMLSecShims
import FoundationEssentials

/// Owns one parsed `xmlDoc`. Built only by `XMLDocument.parse`, which refuses anything
/// that could make libxml2 read outside the given bytes.
final class XMLDocument {
    let pointer: xmlDocPtr

    private init(pointer: xmlDocPtr) { self.pointer = pointer }

    deinit { xmlFreeDoc(pointer) }

    var root: XMLElement? {
        xmlDocGetRootElement(pointer).map { XMLElement(node: $0) }
    }

    /// Parses a trusted list. Any DOCTYPE is refused before libxml2 sees the bytes (so no
    /// entity can be declared, expanded or fetched), and the parser runs with no network,
    /// no DTD loading and no entity substitution. The external-entity loader installed by
    /// `XMLSecurityLibrary` refuses every load as a last line.
    static func parse(_ bytes: [UInt8]) throws(TrustListError) -> XMLDocument {
        try checkEncoding(bytes)
        if bytes.firstRange(of: Array("<!DOCTYPE".utf8)) != nil {
            throw TrustListError(.doctype, "the list contains a DOCTYPE; entity and DTD declarations are never accepted")
        }
        if bytes.firstRange(of: Array("<!ENTITY".utf8)) != nil {
            throw TrustListError(.doctype, "the list contains an ENTITY declaration")
        }
        try XMLSecurityLibrary.ready()
        guard bytes.count < Int(Int32.max) else { throw TrustListError(.tooLarge, "\(bytes.count) bytes") }
        guard let context = xmlNewParserCtxt() else { throw TrustListError(.malformed, "cannot create an XML parser") }
        defer { xmlFreeParserCtxt(context) }
        let options = Int32(bitPattern: XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                xmlCtxtReadMemory(context, $0.baseAddress, Int32($0.count), "trusted-list.xml", "UTF-8", options)
            }
        }
        guard let parsed else {
            let error = context.pointee.lastError
            let message = error.message.map { String(cString: $0).trimmedXML } ?? "not well-formed"
            throw TrustListError(.malformed, "not well-formed XML (line \(error.line)): \(message)")
        }
        let document = XMLDocument(pointer: parsed)
        // Belt and braces: the byte scan above already refused these.
        if parsed.pointee.intSubset != nil || parsed.pointee.extSubset != nil {
            throw TrustListError(.doctype, "the parsed document has a DTD")
        }
        return document
    }

    /// ETSI TS 119 612 5.1.4: UTF-8. Refusing anything else also keeps the byte scan for
    /// DOCTYPE sound (a UTF-16 document would hide it from an ASCII search).
    private static func checkEncoding(_ bytes: [UInt8]) throws(TrustListError) {
        guard !bytes.isEmpty else { throw TrustListError(.malformed, "empty file") }
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.prefix(4).contains(0) {
            throw TrustListError(.malformed, "not UTF-8 (TS 119 612 lists are UTF-8)")
        }
        if bytes.starts(with: Array("<?xml".utf8)), let end = bytes.firstRange(of: Array("?>".utf8)) {
            let declaration = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
            if let range = declaration.firstRange(of: "encoding") {
                let value = declaration[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" }
                    .prefix { $0 != "\"" && $0 != "'" }
                guard value.lowercased() == "utf-8" else {
                    throw TrustListError(.malformed, "declared encoding \(value) (TS 119 612 lists are UTF-8)")
                }
            }
        }
    }
}

/// A borrowed element of an `XMLDocument`; valid while the document lives.
struct XMLElement {
    let node: xmlNodePtr

    var localName: String { node.pointee.name.map { String(cString: $0) } ?? "" }
    var namespace: String? { node.pointee.ns?.pointee.href.map { String(cString: $0) } }

    func isElement(_ name: String, in namespace: String) -> Bool {
        localName == name && self.namespace == namespace
    }

    /// Child elements in document order (text, comments and PIs skipped).
    var children: [XMLElement] {
        var result: [XMLElement] = []
        var cursor = node.pointee.children
        while let child = cursor {
            if child.pointee.type == XML_ELEMENT_NODE { result.append(XMLElement(node: child)) }
            cursor = child.pointee.next
        }
        return result
    }

    func children(_ name: String, in namespace: String) -> [XMLElement] {
        children.filter { $0.isElement(name, in: namespace) }
    }

    func child(_ name: String, in namespace: String) -> XMLElement? {
        children.first { $0.isElement(name, in: namespace) }
    }

    /// Follows a path of child names in one namespace.
    func path(_ names: String..., in namespace: String) -> XMLElement? {
        var current: XMLElement? = self
        for name in names { current = current?.child(name, in: namespace) }
        return current
    }

    /// Every descendant element, depth first, this one included.
    func descendants(_ visit: (XMLElement) -> Void) {
        visit(self)
        for child in children { child.descendants(visit) }
    }

    /// Concatenated text of the element and its descendants.
    var text: String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { CXMLSecShims_xmlFree(content) }
        return String(cString: content)
    }

    var trimmedText: String { text.trimmedXML }

    /// An attribute without a namespace.
    func attribute(_ name: String) -> String? {
        guard let value = withXMLChars(name, { xmlGetNoNsProp(node, $0) }) else { return nil }
        defer { CXMLSecShims_xmlFree(value) }
        return String(cString: value)
    }

    /// The attribute node itself (for xmlAddID).
    func attributeNode(_ name: String) -> xmlAttrPtr? {
        withXMLChars(name) { xmlHasNsProp(node, $0, nil) }
    }

    /// Every attribute as (namespace, local name, value).
    var attributes: [(namespace: String?, name: String, value: String)] {
        var result: [(String?, String, String)] = []
        var cursor = node.pointee.properties
        while let attribute = cursor {
            let name = attribute.pointee.name.map { String(cString: $0) } ?? ""
            let namespace = attribute.pointee.ns?.pointee.href.map { String(cString: $0) }
            var value = ""
            if let raw = xmlNodeListGetString(node.pointee.doc, attribute.pointee.children, 1) {
                value = String(cString: raw)
                CXMLSecShims_xmlFree(raw)
            }
            result.append((namespace, name, value))
            cursor = attribute.pointee.next
        }
        return result
    }

    /// A multilingual name list (TS 119 612 5.1.4): the English one, else the first.
    func preferredName(in namespace: String) -> String {
        let names = children("Name", in: namespace)
        let english = names.first { $0.languageTag == "en" }
        return (english ?? names.first)?.trimmedText ?? ""
    }

    var languageTag: String? {
        guard let value = xmlNodeGetLang(node) else { return nil }
        defer { CXMLSecShims_xmlFree(value) }
        return String(cString: value)
    }
}

/// A Swift string as libxml2's `const xmlChar *` for the duration of `body`.
func withXMLChars<T>(_ text: String, _ body: (UnsafePointer<xmlChar>) -> T) -> T {
    text.withCString { $0.withMemoryRebound(to: xmlChar.self, capacity: text.utf8.count + 1, body) }
}

extension StringProtocol {
    /// Without leading and trailing XML white space (space, tab, CR, LF).
    var trimmedXML: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
