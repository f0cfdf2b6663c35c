#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Posix
import Synchronization
import Testing
@testable import EventLoop

final class Item {
    let name: String
    init(_ name: String) { self.name = name }
}

/// A connected pair of sockets: the loop watches `a`, the test writes to `b`.
struct SocketPair {
    let a: Int32
    let b: Int32
    init() {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        a = fds[0]
        b = fds[1]
    }
    func close() {
        Socket.close(a)
        Socket.close(b)
    }
}

@Suite struct DeadlineHeapTests {
    /// Random sets, moves and removals against a plain dictionary: the heap always pops the
    /// earliest deadline, and exactly the deadlines that are still set.
    @Test func agreesWithAModel() {
        var heap = DeadlineHeap()
        var model: [Int: UInt64] = [:]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: UInt64) -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (state >> 33) % bound
        }
        for _ in 0..<20_000 {
            let slot = Int(next(200))
            switch next(4) {
            case 0, 1:
                let deadline = next(1_000_000)
                heap.set(slot, to: deadline)
                model[slot] = deadline
            case 2:
                heap.remove(slot)
                model[slot] = nil
            default:
                #expect(heap.deadline(of: slot) == model[slot])
            }
            #expect(heap.count == model.count)
            #expect(heap.first?.deadline == model.values.min())
        }
        var popped: [UInt64] = []
        while let slot = heap.popExpired(now: .max) {
            popped.append(model.removeValue(forKey: slot)!)
        }
        #expect(model.isEmpty)
        #expect(popped == popped.sorted())
    }

    @Test func onlyPassedDeadlinesPop() {
        var heap = DeadlineHeap()
        heap.set(3, to: 30)
        heap.set(1, to: 10)
        heap.set(2, to: 20)
        #expect(heap.popExpired(now: 5) == nil)
        #expect(heap.popExpired(now: 25) == 1)
        #expect(heap.popExpired(now: 25) == 2)
        #expect(heap.popExpired(now: 25) == nil)
        heap.set(3, to: 1)  // moved earlier
        #expect(heap.popExpired(now: 2) == 3)
        #expect(heap.isEmpty)
    }
}

@Suite struct EventLoopTests {
    @Test func deadlinesFireInOrderAndOnlyOnce() throws {
        let loop = try EventLoop<Item, Int>()
        let pairs = (0..<4).map { _ in SocketPair() }
        defer { pairs.forEach { $0.close() } }
        let now = Process.monotonicNanoseconds()
        let ms: UInt64 = 1_000_000
        var slots: [String: Slot] = [:]
        for (pair, (name, after)) in zip(pairs, [("c", 60), ("a", 20), ("d", 80), ("b", 40)]) {
            let slot = try loop.insert(Item(name), fd: pair.a, interest: .readable)
            loop.setDeadline(slot, now + UInt64(after) * ms)
            slots[name] = slot
        }
        // "d" is cleared, "b" moved after "c".
        loop.clearDeadline(slots["d"]!)
        loop.setDeadline(slots["b"]!, now + 70 * ms)
        var fired: [String] = []
        let stop = now + 300 * ms
        while Process.monotonicNanoseconds() < stop && fired.count < 3 {
            try loop.turn(maxWaitMilliseconds: 50, { event in
                if case .deadline(_, let item) = event { fired.append(item.name) }
            }, messages: { _ in })
        }
        #expect(fired == ["a", "c", "b"])
        #expect(Process.monotonicNanoseconds() - now >= 70 * ms)
        // Nothing fires again: a deadline is cleared once reported.
        try loop.turn(maxWaitMilliseconds: 20, { event in
            if case .deadline = event { Issue.record("a deadline fired twice") }
        }, messages: { _ in })
    }

    /// The loop sleeps until the earliest deadline, not a fixed tick.
    @Test func theWaitEndsAtTheEarliestDeadline() throws {
        let loop = try EventLoop<Item, Int>()
        let pair = SocketPair()
        defer { pair.close() }
        let slot = try loop.insert(Item("x"), fd: pair.a, interest: .readable)
        let start = Process.monotonicNanoseconds()
        loop.setDeadline(slot, start + 30_000_000)
        var fired = false
        try loop.turn(maxWaitMilliseconds: 5_000, { event in
            if case .deadline = event { fired = true }
        }, messages: { _ in })
        let elapsed = Process.monotonicNanoseconds() - start
        #expect(fired)
        #expect(elapsed >= 30_000_000 && elapsed < 1_000_000_000)
    }

    @Test func aReusedSlotIsNotConfusedWithTheOldConnection() throws {
        let loop = try EventLoop<Item, Int>()
        let first = SocketPair()
        let second = SocketPair()
        defer { first.close(); second.close() }
        let old = try loop.insert(Item("old"), fd: first.a, interest: .readable)
        loop.setDeadline(old, Process.monotonicNanoseconds() + 10_000_000)
        // The peer writes, then the connection closes in the same turn it is reported ready.
        _ = write(first.b, "x", 1)
        var seen: [String] = []
        try loop.turn(maxWaitMilliseconds: 100, { event in
            if case .ready(let slot, let item, _) = event {
                seen.append(item.name)
                loop.remove(slot)
            }
        }, messages: { _ in })
        #expect(seen == ["old"])
        #expect(loop[old] == nil)
        let new = try loop.insert(Item("new"), fd: second.a, interest: .readable)
        #expect(new.index == old.index && new.generation != old.generation)
        #expect(loop[old] == nil && loop[new]?.name == "new")
        // Handles of the old connection reach nothing: its deadline, interest changes.
        loop.setDeadline(old, 0)
        #expect(loop.deadline(of: new) == nil)
        try loop.setInterest(old, .writable)
        // More bytes on the OLD socket are not reported for the new connection.
        _ = write(first.b, "y", 1)
        var reported: [String] = []
        try loop.turn(maxWaitMilliseconds: 50, { event in
            switch event {
            case .ready(_, let item, _), .deadline(_, let item): reported.append(item.name)
            case .listener: break
            }
        }, messages: { _ in })
        #expect(reported.isEmpty)
        #expect(loop.count == 1)
    }

    @Test func readinessReachesItsItem() throws {
        let loop = try EventLoop<Item, Int>()
        let pairs = (0..<3).map { _ in SocketPair() }
        defer { pairs.forEach { $0.close() } }
        var names: [Slot: String] = [:]
        for (index, pair) in pairs.enumerated() {
            let slot = try loop.insert(Item("c\(index)"), fd: pair.a, interest: .readable)
            names[slot] = "c\(index)"
        }
        _ = write(pairs[1].b, "x", 1)
        var ready: [String] = []
        try loop.turn(maxWaitMilliseconds: 100, { event in
            if case .ready(let slot, let item, let readiness) = event {
                #expect(readiness.readable && names[slot] == item.name)
                ready.append(item.name)
            }
        }, messages: { _ in })
        #expect(ready == ["c1"])
    }

    @Test func aMessageFromAnotherThreadWakesTheLoop() throws {
        let loop = try EventLoop<Item, Int>()
        let mailbox = loop.mailbox
        let started = Process.monotonicNanoseconds()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { mailbox.post(42) }
        var received: [Int] = []
        try loop.turn(maxWaitMilliseconds: 5_000, { _ in }, messages: { received += $0 })
        #expect(received == [42])
        #expect(Process.monotonicNanoseconds() - started < 2_000_000_000)
    }

    @Test func theHeartbeatBeatsEachTurn() throws {
        let heartbeats = LoopHeartbeats()
        let beat = heartbeats.register(loop: 0)
        beat.beat(now: 0)
        let loop = try EventLoop<Item, Int>(heartbeat: beat)
        try loop.turn(maxWaitMilliseconds: 1, { _ in }, messages: { _ in })
        #expect(beat.lastBeat > 0)
    }
}

@Suite struct BlockingPoolTests {
    @Test func aFullQueueRefusesAndCancelledWorkIsSkipped() throws {
        let pool = BlockingPool(name: "test-pool", width: 1, queueLimit: 2)
        let gate = DispatchSemaphore(value: 0)
        let ran = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        // The one thread is held by the first piece of work; two more fill the queue.
        #expect(pool.submit { gate.wait(); ran.withLock { $0.append("first") } } != nil)
        while pool.busy == 0 { usleep(1000) }
        let cancelled = pool.submit { ran.withLock { $0.append("cancelled") } }
        #expect(pool.submit { ran.withLock { $0.append("third") }; done.signal() } != nil)
        #expect(pool.submit { ran.withLock { $0.append("refused") } } == nil)
        #expect(pool.queued == 2)
        cancelled?.cancel()
        gate.signal()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(ran.withLock { $0 } == ["first", "third"])
    }
}
