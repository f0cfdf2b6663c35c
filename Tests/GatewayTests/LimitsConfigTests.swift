import Testing
@testable import Gateway

/// The keys of issue 15's limits: the blocking pools (`[server]`).
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
}
