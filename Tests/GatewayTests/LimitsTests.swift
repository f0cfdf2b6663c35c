import Testing
@testable import Gateway

/// Issue 15's limits: the blocking pools (`[server]`), the accept bound (`[limits]`).
@Suite struct LimitsConfigTests {
    @Test func poolsHaveDefaultsAndCanBeSized() throws {
        let fixture = try ConfigFixture()
        let defaults = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal))
        #expect(defaults.loginPool == PoolSize(threads: 8, queue: 1024))
        #expect(defaults.backChannelPool == PoolSize(threads: 8, queue: 1024))
        let sized = try GatewayConfig.load(path: fixture.write("""
            [server]
            login_threads = 4
            login_queue = 100
            back_channel_threads = 2
            back_channel_queue = 50
            """ + "\n" + ConfigFixture.minimal))
        #expect(sized.loginPool == PoolSize(threads: 4, queue: 100))
        #expect(sized.backChannelPool == PoolSize(threads: 2, queue: 50))
    }

    @Test func aPoolWithoutThreadsIsRefused() throws {
        let fixture = try ConfigFixture()
        do {
            _ = try GatewayConfig.load(path: fixture.write("[server]\nback_channel_threads = 0\nlogin_queue = 0\n" + ConfigFixture.minimal))
            Issue.record("a pool without threads was accepted")
        } catch {
            let paths = error.problems.map(\.keyPath)
            #expect(paths.contains("server.back_channel_threads"))
            #expect(paths.contains("server.login_queue"))
        }
    }

    @Test func theAcceptBoundHasDefaultsAndCanBeTurnedOff() throws {
        let fixture = try ConfigFixture()
        let defaults = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal))
        #expect(defaults.limits.acceptRate == 500 && defaults.limits.acceptBurst == 1000)
        let off = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal + "\n[limits]\naccept_rate = 0\naccept_burst = 20\n"))
        #expect(off.limits.acceptRate == 0 && off.limits.acceptBurst == 20)
        do {
            _ = try GatewayConfig.load(path: fixture.write(ConfigFixture.minimal + "\n[limits]\naccept_burst = 0\n"))
            Issue.record("accept_burst = 0 was accepted")
        } catch {
            #expect(error.problems.map(\.keyPath) == ["limits.accept_burst"])
        }
    }
}

@Suite struct AcceptBudgetTests {
    private let second: UInt64 = 1_000_000_000

    private func take(_ budget: inout AcceptBudget, _ now: UInt64, _ rate: Double, _ burst: Int) -> Bool {
        budget.take(now: now, rate: rate, burst: burst)
    }

    @Test func aBurstIsTakenAtOnceThenTheRate() {
        var budget = AcceptBudget(burst: 5, now: 0)
        for _ in 0..<5 { #expect(take(&budget, 0, 10, 5)) }
        #expect(!take(&budget, 0, 10, 5))
        // The next token is due a tenth of a second later, and not before.
        #expect(budget.nextToken(now: 0, rate: 10) == second / 10)
        #expect(!take(&budget, second / 10 - 1_000, 10, 5))
        #expect(take(&budget, second / 10, 10, 5))
        // Over a quiet second the bucket refills to the burst, never past it.
        #expect(take(&budget, 5 * second, 10, 5))
        #expect(budget.tokens == 4)
    }

    @Test func aTokenForNoConnectionIsGivenBack() {
        var budget = AcceptBudget(burst: 1, now: 0)
        #expect(take(&budget, 0, 1, 1))
        budget.giveBack(burst: 1)
        #expect(take(&budget, 0, 1, 1))
        budget.giveBack(burst: 1)
        budget.giveBack(burst: 1)
        #expect(budget.tokens == 1)
    }

    @Test func aSustainedFloodGetsTheRateAndNoMore() {
        var budget = AcceptBudget(burst: 50, now: 0)
        var accepted = 0
        // Ten seconds of a client trying every 100 µs (100,000 attempts).
        var now: UInt64 = 0
        while now < 10 * second {
            if budget.take(now: now, rate: 200, burst: 50) { accepted += 1 }
            now += 100_000
        }
        #expect(accepted >= 50 + 200 * 10 - 1 && accepted <= 50 + 200 * 10)
    }
}
