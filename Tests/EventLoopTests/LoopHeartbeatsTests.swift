import Testing
@testable import EventLoop

@Suite struct LoopHeartbeatsTests {
    @Test func aLoopSilentForTheStallTimeIsReportedAndOnlyThatOne() {
        let heartbeats = LoopHeartbeats()
        let quiet = heartbeats.register(loop: 0)
        let busy = heartbeats.register(loop: 1)
        let second: UInt64 = 1_000_000_000
        quiet.beat(now: 100 * second)
        busy.beat(now: 100 * second)
        #expect(heartbeats.stalled(now: 104 * second).isEmpty)
        busy.beat(now: 104 * second)
        let stalled = heartbeats.stalled(now: 106 * second)
        #expect(stalled.map(\.loop) == [0])
        #expect(stalled.first?.seconds == 6)
        quiet.beat(now: 106 * second)
        #expect(heartbeats.stalled(now: 107 * second).isEmpty)
    }

    @Test func aBeatFromTheFutureIsNotAStall() {
        let heartbeats = LoopHeartbeats()
        heartbeats.register(loop: 0).beat(now: 50)
        #expect(heartbeats.stalled(now: 10).isEmpty)
    }
}
