public import Posix
import Synchronization

/// A connection's place in its loop: the slot index and the generation of the slot when the
/// connection took it. A handle kept past the connection's close (a late response from the
/// blocking pool, an old deadline) names an older generation and finds nothing.
public struct Slot: Hashable, Sendable, CustomStringConvertible {
    public let index: Int
    public let generation: UInt32

    init(index: Int, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    /// What epoll carries back for this registration.
    var token: UInt64 { UInt64(index) | UInt64(generation) << 32 }

    init(token: UInt64) {
        index = Int(token & 0x7fff_ffff)
        generation = UInt32(truncatingIfNeeded: token >> 32)
    }

    public var description: String { "\(index).\(generation)" }

    /// A placeholder before the loop assigns a slot; never found in any loop.
    public static let unassigned = Slot(index: Int(Int32.max), generation: .max)
}

/// What one turn of the loop reports to its owner.
public enum LoopEvent<Item: AnyObject> {
    /// A listening socket has connections to accept.
    case listener(index: Int)
    /// A connection's socket is ready.
    case ready(Slot, Item, ReadyEvent)
    /// A connection's deadline has passed (it is cleared; set a new one to be called again).
    case deadline(Slot, Item)
}

/// Messages for a loop from other threads (responses finished on the blocking pool): posting
/// wakes the loop, which takes them all at once on its own thread.
public final class Mailbox<Message: Sendable>: Sendable {
    private let items = Mutex<[Message]>([])
    private let waker: Waker

    init(waker: Waker) { self.waker = waker }

    public func post(_ message: Message) {
        items.withLock { $0.append(message) }
        waker.wake()
    }

    /// Wakes the loop without a message (to look at a flag another thread set).
    public func wake() { waker.wake() }

    func takeAll() -> [Message] {
        items.withLock { items in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
    }
}

/// One event loop, owned by one thread: the epoll reactor, the table of connections (slots
/// with generations), their deadlines (a heap, earliest first), the mailbox with its eventfd
/// waker, and the heartbeat the watchdog reads. The owner (the gateway's worker) keeps the
/// protocol state machine; the loop knows only sockets, slots, deadlines and messages.
public final class EventLoop<Item: AnyObject, Message: Sendable> {
    private let reactor: Reactor
    private var items: [Item?] = []
    private var fds: [Int32] = []
    private var generations: [UInt32] = []
    private var interests: [Interest] = []
    private var freeSlots: [Int] = []
    /// Slots closed during this turn, recycled at its end, so an event already fetched in the
    /// same batch for a closed connection cannot reach the connection that takes its slot.
    private var closing: [Int] = []
    private var deadlines = DeadlineHeap()
    private let heartbeat: LoopHeartbeats.Beat?
    public let mailbox: Mailbox<Message>
    public private(set) var count = 0

    static var listenerTokenBit: UInt64 { 1 << 62 }

    public init(heartbeat: LoopHeartbeats.Beat? = nil) throws(Errno) {
        reactor = try Reactor()
        self.heartbeat = heartbeat
        mailbox = Mailbox(waker: reactor.waker)
    }

    // MARK: listeners

    /// Shared listening sockets: the kernel wakes one of the loops per connection (EPOLLEXCLUSIVE).
    public func addListener(fd: Int32, index: Int) throws(Errno) {
        try reactor.register(fd: fd, token: Self.listenerTokenBit | UInt64(index), interest: .readable, exclusive: true)
    }

    public func removeListener(fd: Int32) { reactor.deregister(fd: fd) }

    // MARK: connections

    /// Registers `item` with its socket; returns its slot.
    public func insert(_ item: Item, fd: Int32, interest: Interest) throws(Errno) -> Slot {
        let index: Int
        if let free = freeSlots.popLast() {
            index = free
        } else {
            index = items.count
            items.append(nil)
            fds.append(-1)
            generations.append(0)
            interests.append(.none)
        }
        let slot = Slot(index: index, generation: generations[index])
        do {
            try reactor.register(fd: fd, token: slot.token, interest: interest)
        } catch {
            freeSlots.append(index)
            throw error
        }
        items[index] = item
        fds[index] = fd
        interests[index] = interest
        count += 1
        return slot
    }

    /// The connection in `slot`, nil when the slot has been closed (or reused) since.
    public subscript(slot: Slot) -> Item? {
        guard slot.index < items.count, generations[slot.index] == slot.generation else { return nil }
        return items[slot.index]
    }

    /// Changes what the socket waits for; a no-op when unchanged (an epoll_ctl saved per request).
    public func setInterest(_ slot: Slot, _ interest: Interest) throws(Errno) {
        guard self[slot] != nil, interests[slot.index] != interest else { return }
        try reactor.modify(fd: fds[slot.index], token: slot.token, interest: interest)
        interests[slot.index] = interest
    }

    /// When the loop reports `.deadline` for `slot` (monotonic nanoseconds).
    public func setDeadline(_ slot: Slot, _ deadline: UInt64) {
        guard self[slot] != nil else { return }
        deadlines.set(slot.index, to: deadline)
    }

    public func clearDeadline(_ slot: Slot) {
        guard self[slot] != nil else { return }
        deadlines.remove(slot.index)
    }

    public func deadline(of slot: Slot) -> UInt64? {
        guard self[slot] != nil else { return nil }
        return deadlines.deadline(of: slot.index)
    }

    /// Takes the connection out of the loop (its socket is the owner's to close). The slot is
    /// recycled with a new generation at the end of the turn.
    public func remove(_ slot: Slot) {
        guard self[slot] != nil else { return }
        reactor.deregister(fd: fds[slot.index])
        deadlines.remove(slot.index)
        items[slot.index] = nil
        fds[slot.index] = -1
        count -= 1
        closing.append(slot.index)
    }

    /// Every connection still in the loop (for draining).
    public var all: [(Slot, Item)] {
        items.indices.compactMap { index in items[index].map { (Slot(index: index, generation: generations[index]), $0) } }
    }

    // MARK: the turn

    /// One turn: waits for readiness at most until the earliest deadline (and at most
    /// `maxWaitMilliseconds`, so the heartbeat goes on when idle), reports each event, hands
    /// over the mailbox's messages, then reports every deadline that has passed.
    public func turn(maxWaitMilliseconds: Int32 = 1000, _ handle: (LoopEvent<Item>) -> Void,
                     messages: ([Message]) -> Void) throws(Errno) {
        heartbeat?.beat()
        var wait = maxWaitMilliseconds
        if let first = deadlines.first {
            let now = Process.monotonicNanoseconds()
            let until = first.deadline > now ? (first.deadline - now + 999_999) / 1_000_000 : 0
            wait = Int32(min(UInt64(wait), until))
        }
        var woken = false
        try reactor.poll(timeoutMilliseconds: wait) { event in
            if event.token == Reactor.wakeToken {
                woken = true
            } else if event.token & Self.listenerTokenBit != 0 {
                handle(.listener(index: Int(event.token & ~Self.listenerTokenBit)))
            } else {
                let slot = Slot(token: event.token)
                guard let item = self[slot] else { return }
                handle(.ready(slot, item, event))
            }
        }
        if woken {
            let taken = mailbox.takeAll()
            if !taken.isEmpty { messages(taken) }
        }
        let now = Process.monotonicNanoseconds()
        while let index = deadlines.popExpired(now: now) {
            guard let item = items[index] else { continue }
            handle(.deadline(Slot(index: index, generation: generations[index]), item))
        }
        recycle()
    }

    private func recycle() {
        for index in closing {
            generations[index] &+= 1
            freeSlots.append(index)
        }
        closing.removeAll(keepingCapacity: true)
    }
}
