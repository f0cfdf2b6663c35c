import Testing
@testable import HTTP1


private func parse(_ text: String, maxBody: Int = 65_536, method: String = "GET") throws(HTTPResponseError) -> (status: Int, body: String) {
    let (head, body) = try HTTPResponseParser.parse(bytes(text), maxBodyBytes: maxBody, requestMethod: method)
    return (head.status, String(decoding: body, as: UTF8.self))
}

private func body(_ text: String, maxBody: Int = 65_536) throws(HTTPResponseError) -> String {
    try parse(text, maxBody: maxBody).body
}

/// The error `text` fails with (nil when it parses).
private func failure(_ text: String, maxBody: Int = 65_536) -> HTTPResponseError? {
    do {
        _ = try parse(text, maxBody: maxBody)
        return nil
    } catch {
        return error
    }
}

private let jwks = #"{"keys":[]}"#

@Suite struct ResponseParserTests {
    @Test func contentLengthBody() throws {
        let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(jwks.utf8.count)\r\n\r\n\(jwks)"
        #expect(try body(response) == jwks)
        // Bytes past Content-Length are not part of the body.
        #expect(try body(response + "garbage") == jwks)
        let (head, _) = try HTTPResponseParser.parse(bytes(response), maxBodyBytes: 100)
        #expect(head.header("content-type") == "application/json")
    }

    @Test func bodyIsReadyBeforeTheStreamEnds() throws {
        var parser = HTTPResponseParser(maxBodyBytes: 100)
        #expect(try parser.consume(bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"keys\":")) == bytes("{\"keys\":"))
        #expect(parser.head?.status == 200)
        #expect(!parser.isComplete)
        #expect(try parser.consume(bytes("[]}")) == bytes("[]}"))
        #expect(parser.isComplete)
        #expect(parser.bodyCount == 11)
    }

    @Test func chunkedBodyFedOneByteAtATime() throws {
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
            + "4;ext=\"x\"\r\n{\"ke\r\n0007\r\nys\":[]}\r\n0\r\nX-Trailer: yes\r\n\r\n"
        var parser = HTTPResponseParser(maxBodyBytes: 100)
        var received: [UInt8] = []
        for byte in bytes(response) {
            #expect(!parser.isComplete, "complete before the last byte")
            received += try parser.consume([byte])
        }
        #expect(parser.isComplete)
        #expect(received == bytes(jwks))
        #expect(try body(response) == jwks)
    }

    @Test func closeDelimitedBody() throws {
        #expect(try body("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n\(jwks)") == jwks)
        #expect(try body("HTTP/1.0 200 OK\r\n\r\n\(jwks)") == jwks)
        #expect(try body("HTTP/1.1 200 \r\n\r\n") == "")
        #expect(try body("HTTP/1.1 200\r\n\r\n") == "")
    }

    @Test func interimResponsesAreSkipped() throws {
        #expect(try body("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") == "{}")
        #expect(failure("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")?.reason == "HTTP status 101")
        #expect(failure("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")?.code == .status)
    }

    @Test func everyStatusIsTheCallersToJudge() throws {
        #expect(try parse("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found").status == 404)
        #expect(try parse("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found").body == "not found")
        #expect(try parse("HTTP/1.1 302 Found\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n").status == 302)
    }

    @Test func responsesWithoutABody() throws {
        // 204 and 304 end with the head, whatever follows (RFC 9110 sections 15.3.5, 15.4.5).
        #expect(try parse("HTTP/1.1 204 No Content\r\n\r\n") == (204, ""))
        #expect(try parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n") == (304, ""))
        // The answer to HEAD announces a length it does not send.
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", method: "HEAD") == (200, ""))
    }

    @Test func oversizeBodies() throws {
        let large = String(repeating: "a", count: 65_537)
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n") == HTTPResponseError(.tooLarge, ""))
        #expect(failure("HTTP/1.1 200 OK\r\n\r\n\(large)")?.reason == "body larger than 65536 bytes")
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n\(large.prefix(0x8000))\r\n8001\r\n")?.code == .tooLarge)
        // A size that would overflow an Int is refused as too large, not wrapped.
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n")?.code == .tooLarge)
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n")?.code == .header)
        // Exactly at the limit is fine.
        #expect(try body("HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n\(large.dropLast())").utf8.count == 65_536)
        #expect(try body("HTTP/1.1 200 OK\r\n\r\n\(large.dropLast())").utf8.count == 65_536)
        #expect(try body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n\(large.prefix(0x8000))\r\n8000\r\n\(large.prefix(0x8000))\r\n0\r\n\r\n")
                .utf8.count == 65_536)
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Bad: a\u{1}b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Bare: a\nContent-Length: 2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\n{}",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    ])
    func malformedHeads(_ response: String) {
        #expect(failure(response)?.code == .header)
    }

    @Test func sameContentLengthTwiceIsAccepted() throws {
        #expect(try body("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\n{}") == "{}")
        #expect(try body("HTTP/1.1 200 OK\r\ncontent-length:2\r\ncontent-encoding: identity\r\n\r\n{}") == "{}")
    }

    @Test func headerLimit() {
        let filler = "X-Filler: " + String(repeating: "x", count: 16_400) + "\r\n"
        #expect(failure("HTTP/1.1 200 OK\r\n\(filler)\r\n{}")?.reason == "response header larger than 16384 bytes")
        // Also when the end of the head has not arrived yet.
        var parser = HTTPResponseParser(maxBodyBytes: 100)
        #expect(throws: HTTPResponseError(.header, "")) { _ = try parser.consume(bytes("HTTP/1.1 200 OK\r\n\(filler)")) }
        // Just under the limit is fine.
        let fits = "X-Filler: " + String(repeating: "x", count: 16_300) + "\r\n"
        #expect(failure("HTTP/1.1 200 OK\r\n\(fits)Content-Length: 2\r\n\r\n{}") == nil)
    }

    @Test func malformedChunks() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(failure(head + "zz\r\n")?.code == .body)
        #expect(failure(head + "\r\n")?.code == .body)
        #expect(failure(head + "2 x\r\n{}\r\n0\r\n\r\n")?.code == .body)
        #expect(failure(head + "2\r\n{}XX0\r\n\r\n")?.reason == "chunk data not followed by CRLF")
        #expect(failure(head + "0\r\nBad trailer\r\n\r\n")?.code == .header)
        #expect(failure(head + String(repeating: "0", count: 2000))?.code == .body)
    }

    @Test func truncatedResponses() {
        #expect(failure("")?.reason == "connection closed without a response")
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 2")?.reason == "connection closed inside the response header")
        #expect(failure("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}")?.reason == "connection closed before the end of the body")
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n")?.code == .body)
        #expect(failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n")?.code == .body)
        // A head that ends with bare LFs never ends.
        #expect(failure("HTTP/1.1 200 OK\nContent-Length: 2\n\n{}")?.code == .header)
    }

    /// Any split of a response into two reads gives the same head and body as one read.
    @Test func everySplitPointGivesTheSameResult() throws {
        let responses = [
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n\(jwks)",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"ke\r\n7\r\nys\":[]}\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n\(jwks)",
        ]
        for response in responses {
            let whole = bytes(response)
            let expected = try HTTPResponseParser.parse(whole, maxBodyBytes: 100)
            for split in 0...whole.count {
                var parser = HTTPResponseParser(maxBodyBytes: 100)
                var received = try parser.consume(Array(whole[..<split]))
                received += try parser.consume(Array(whole[split...]))
                try parser.finish()
                #expect(parser.head == expected.head && received == expected.body, "split at \(split) of \(response.debugDescription)")
            }
        }
    }
}
