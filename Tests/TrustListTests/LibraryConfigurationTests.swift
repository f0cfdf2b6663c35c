import Foundation
import Testing

/// SwiftPM drops pkg-config's -D flags, so CXMLSecConfig.h restates them; they change
/// xmlsec's ABI, so they must be exactly the installed library's.
@Suite struct LibraryConfigurationTests {
    @Test func configHeaderMatchesPkgConfig() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["pkg-config", "--cflags", "xmlsec1-openssl"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "pkg-config xmlsec1-openssl failed: install libxmlsec1-dev")
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let defines = output.split(separator: " ").filter { $0.hasPrefix("-D") }.map { $0.dropFirst(2).split(separator: "=")[0] }
        var header = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { header.deleteLastPathComponent() }
        let text = try String(contentsOf: header.appendingPathComponent("Sources/CXMLSecShims/include/CXMLSecConfig.h"), encoding: .utf8)
        for define in defines {
            #expect(text.contains("#define \(define) "), "CXMLSecConfig.h lacks \(define) from pkg-config")
        }
        #expect(defines.contains("XMLSEC_NO_SIZE_T"))
    }
}
