/// The connections' deadlines, earliest first: a binary min-heap over slot indices that knows
/// where each slot sits, so setting, moving or clearing one slot's deadline is O(log n) and the
/// loop looks only at the top. 100,000 idle connections cost nothing per turn of the loop; a
/// linear sweep would visit every one of them ten times a second.
struct DeadlineHeap {
    private var heap: [(deadline: UInt64, slot: Int)] = []
    /// slot -> position in `heap`, -1 when the slot has no deadline.
    private var position: [Int] = []

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    /// The earliest deadline and its slot.
    var first: (deadline: UInt64, slot: Int)? { heap.first }

    func deadline(of slot: Int) -> UInt64? {
        guard slot < position.count, position[slot] >= 0 else { return nil }
        return heap[position[slot]].deadline
    }

    /// Sets or moves `slot`'s deadline.
    mutating func set(_ slot: Int, to deadline: UInt64) {
        while position.count <= slot { position.append(-1) }
        let index = position[slot]
        if index < 0 {
            heap.append((deadline, slot))
            position[slot] = heap.count - 1
            siftUp(heap.count - 1)
        } else {
            let old = heap[index].deadline
            heap[index].deadline = deadline
            if deadline < old { siftUp(index) } else { siftDown(index) }
        }
    }

    /// Clears `slot`'s deadline, if it has one.
    mutating func remove(_ slot: Int) {
        guard slot < position.count else { return }
        let index = position[slot]
        guard index >= 0 else { return }
        position[slot] = -1
        let last = heap.count - 1
        if index != last {
            heap[index] = heap[last]
            position[heap[index].slot] = index
            heap.removeLast()
            siftDown(index)
            siftUp(index)
        } else {
            heap.removeLast()
        }
    }

    /// Removes and returns the earliest slot whose deadline is at or before `now`.
    mutating func popExpired(now: UInt64) -> Int? {
        guard let top = heap.first, top.deadline <= now else { return nil }
        remove(top.slot)
        return top.slot
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count && heap[left + 1].deadline < heap[left].deadline { smallest = left + 1 }
            guard heap[smallest].deadline < heap[parent].deadline else { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        position[heap[a].slot] = a
        position[heap[b].slot] = b
    }
}
