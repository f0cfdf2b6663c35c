/// The part of RFC 8941 (Structured Field Values) that RFC 9440 uses: an Item or a List whose
/// members are Byte Sequences (`:base64:`), each possibly followed by Parameters, which are
/// skipped (RFC 9440 defines none; RFC 8941 §4.2 has recipients ignore what they do not know).
enum StructuredFieldBytes {
    /// `Client-Cert`: exactly one byte sequence.
    static func item(_ text: [UInt8]) throws(ForwardedHeaderError) -> [UInt8] {
        var reader = Reader(text)
        reader.skipSpaces()
        let value = try reader.byteSequence()
        try reader.parameters()
        reader.skipSpaces()
        guard reader.atEnd else { throw ForwardedHeaderError(.notByteSequence, "text after the byte sequence") }
        return value
    }

    /// `Client-Cert-Chain`: a list of byte sequences (the field lines already joined with ", ").
    /// At most `limit` members are decoded.
    static func list(_ text: [UInt8], limit: Int) throws(ForwardedHeaderError) -> [[UInt8]] {
        var reader = Reader(text)
        var members: [[UInt8]] = []
        reader.skipSpaces()
        if reader.atEnd { return [] }
        while true {
            if members.count == limit { throw ForwardedHeaderError(.chainTooLong, "more than \(limit) certificates in the chain") }
            members.append(try reader.byteSequence())
            try reader.parameters()
            reader.skipOWS()
            if reader.atEnd { return members }
            guard reader.take(UInt8(ascii: ",")) else { throw ForwardedHeaderError(.notByteSequence, "list members not separated by a comma") }
            reader.skipOWS()
            if reader.atEnd { throw ForwardedHeaderError(.notByteSequence, "a comma ends the list") }
        }
    }

    struct Reader {
        let text: [UInt8]
        var i = 0
        init(_ text: [UInt8]) { self.text = text }

        var atEnd: Bool { i >= text.count }
        var peek: UInt8? { atEnd ? nil : text[i] }

        mutating func take(_ c: UInt8) -> Bool {
            guard peek == c else { return false }
            i += 1
            return true
        }

        mutating func skipSpaces() { while peek == UInt8(ascii: " ") { i += 1 } }
        mutating func skipOWS() { while peek == UInt8(ascii: " ") || peek == UInt8(ascii: "\t") { i += 1 } }

        /// RFC 8941 §4.2.7.
        mutating func byteSequence() throws(ForwardedHeaderError) -> [UInt8] {
            guard take(UInt8(ascii: ":")) else { throw ForwardedHeaderError(.notByteSequence, "a byte sequence starts with ':'") }
            let start = i
            while let c = peek, c != UInt8(ascii: ":") {
                guard Base64Text.sextet(c) != nil || c == UInt8(ascii: "=") else {
                    throw ForwardedHeaderError(.badBase64, "a byte sequence holds a character outside base64")
                }
                i += 1
            }
            guard take(UInt8(ascii: ":")) else { throw ForwardedHeaderError(.notByteSequence, "a byte sequence without its closing ':'") }
            guard let bytes = Base64Text.decode(text[start..<(i - 1)]) else {
                throw ForwardedHeaderError(.badBase64, "a byte sequence is not valid base64")
            }
            guard !bytes.isEmpty else { throw ForwardedHeaderError(.emptyCertificate, "an empty byte sequence") }
            return bytes
        }

        /// RFC 8941 §4.2.3.2: `;key[=bare-item]`, read and dropped.
        mutating func parameters() throws(ForwardedHeaderError) {
            while take(UInt8(ascii: ";")) {
                skipSpaces()
                guard let first = peek, first == UInt8(ascii: "*") || (first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")) else {
                    throw ForwardedHeaderError(.notByteSequence, "a parameter key must start with a lowercase letter or '*'")
                }
                while let c = peek, Self.isKeyChar(c) { i += 1 }
                if take(UInt8(ascii: "=")) { try bareItem() }
            }
        }

        /// Any RFC 8941 bare item, only to step over it.
        mutating func bareItem() throws(ForwardedHeaderError) {
            guard let c = peek else { throw ForwardedHeaderError(.notByteSequence, "a parameter without its value") }
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                while let c = peek, c != UInt8(ascii: "\"") {
                    if c == UInt8(ascii: "\\") { i += 1 }
                    i += 1
                }
                guard take(UInt8(ascii: "\"")) else { throw ForwardedHeaderError(.notByteSequence, "an unterminated string parameter") }
            case UInt8(ascii: ":"):
                _ = try byteSequence()
            case UInt8(ascii: "?"):
                i += 1
                guard take(UInt8(ascii: "0")) || take(UInt8(ascii: "1")) else {
                    throw ForwardedHeaderError(.notByteSequence, "a boolean parameter is ?0 or ?1")
                }
            default:
                let start = i
                while let c = peek, Self.isTokenOrNumberChar(c) { i += 1 }
                guard i > start else { throw ForwardedHeaderError(.notByteSequence, "a parameter value is not an item") }
            }
        }

        static func isKeyChar(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "*")
        }

        static func isTokenOrNumberChar(_ c: UInt8) -> Bool {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                Array("!#$%&'*+-.^_`|~:/".utf8).contains(c)
            }
        }
    }
}
