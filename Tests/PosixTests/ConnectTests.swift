import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Posix
import Testing

@Suite struct ConnectTests {
    @Test func connectsToALoopbackListener() throws {
        let listener = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!)
        defer { Socket.close(listener) }
        let port = try Socket.localAddress(listener).port
        let fd = try Socket.connect(host: "127.0.0.1", port: port, deadline: Deadline(after: 2))
        defer { Socket.close(fd) }
        // Non-blocking and connected: a read says "nothing yet" instead of blocking.
        var byte: UInt8 = 0
        #expect(recv(fd, &byte, 1, 0) == -1 && errno == EAGAIN)
    }

    /// `localhost` resolves to ::1 and 127.0.0.1; with a listener on 127.0.0.1 only, the
    /// connect must go on to the next address after ::1 refuses.
    @Test func triesEveryAddress() throws {
        let listener = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!)
        defer { Socket.close(listener) }
        let port = try Socket.localAddress(listener).port
        let fd = try Socket.connect(host: "localhost", port: port, deadline: Deadline(after: 2))
        Socket.close(fd)
    }

    @Test func refusedAndUnresolvable() throws {
        let listener = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!)
        let port = try Socket.localAddress(listener).port
        Socket.close(listener)
        #expect(throws: NetworkError(.connect, "")) { try Socket.connect(host: "127.0.0.1", port: port, deadline: Deadline(after: 2)) }
        #expect(throws: NetworkError(.resolve, "")) { try Socket.connect(host: "no-such-host.invalid", port: 80, deadline: Deadline(after: 2)) }
    }

    /// A listener whose accept queue is full drops new SYNs: the connect hangs until the deadline.
    @Test func connectIsBoundByTheDeadline() throws {
        let listener = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0")!, backlog: 0)
        defer { Socket.close(listener) }
        let port = try Socket.localAddress(listener).port
        var fillers: [Int32] = []
        defer { fillers.forEach(Socket.close) }
        var timedOut = false
        let started = Date()
        for _ in 0..<8 {
            do {
                fillers.append(try Socket.connect(host: "127.0.0.1", port: port, deadline: Deadline(after: 0.5)))
            } catch {
                #expect(error.code == .timeout)
                timedOut = true
                break
            }
        }
        #expect(timedOut, "the accept queue never filled")
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func deadlineArithmetic() {
        #expect(Deadline(after: -1).hasPassed)
        #expect(Deadline(after: .nan).remainingMilliseconds == 0)
        let soon = Deadline(after: 10)
        #expect(!soon.hasPassed)
        #expect((9_990...10_000).contains(soon.remainingMilliseconds))
        #expect(Deadline(after: 1) < soon)
    }
}

@Suite struct AtomicFileTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posix-\(UInt64.random(in: 0...UInt64.max))").path

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    private func contents(_ name: String) -> String? {
        FileManager.default.contents(atPath: "\(dir)/\(name)").map { String(decoding: $0, as: UTF8.self) }
    }

    private var leftovers: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(".") } }

    @Test func replacesWholeWithTheRequestedMode() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AtomicFile.write(Array("first".utf8), to: "\(dir)/f", mode: 0o600)
        try AtomicFile.write(Array("second".utf8), to: "\(dir)/f", mode: 0o600)
        #expect(contents("f") == "second")
        var info = stat()
        #expect(stat("\(dir)/f", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(leftovers.isEmpty)
    }

    @Test func abortedOrDroppedWritersLeaveTheOldFile() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AtomicFile.write(Array("old".utf8), to: "\(dir)/f")
        let writer = try AtomicFileWriter(path: "\(dir)/f")
        try writer.write(Array("half of the n".utf8))
        #expect(!leftovers.isEmpty, "the temporary file is hidden in the same directory")
        writer.abort()
        #expect(contents("f") == "old")
        do {
            let dropped = try AtomicFileWriter(path: "\(dir)/f")
            try dropped.write(Array("never committed".utf8))
        }
        #expect(contents("f") == "old")
        #expect(leftovers.isEmpty)
    }

    @Test func writesInChunks() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try AtomicFileWriter(path: "\(dir)/chunks")
        for i in 0..<100 { try writer.write(Array("\(i),".utf8)) }
        try writer.write([])
        #expect(contents("chunks") == nil, "nothing is visible before commit")
        try writer.commit()
        #expect(contents("chunks") == (0..<100).map { "\($0)," }.joined())
        #expect(writer.count == (0..<100).map { "\($0),".utf8.count }.reduce(0, +))
    }

    @Test func aMissingDirectoryIsAnError() {
        #expect(throws: Errno.self) { try AtomicFile.write([1], to: "\(dir)/no/such/dir/f") }
    }
}
