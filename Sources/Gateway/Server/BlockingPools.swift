import EventLoop

/// The bounded pools deferred work runs on, one per `Router.Lane`: a citizen's login never
/// waits behind a relying party's back-channel work (a flood of wrong client secrets, each a
/// slow hash), and the other way round. Each pool has its own threads and its own queue; a
/// full queue is a 503 at once, and work whose 503 has been sent is dropped unrun.
struct BlockingPools: Sendable {
    let login: BlockingPool
    let backChannel: BlockingPool

    init(login: PoolSize, backChannel: PoolSize) {
        self.login = BlockingPool(name: "cns-login", width: login.threads, queueLimit: login.queue)
        self.backChannel = BlockingPool(name: "cns-backch", width: backChannel.threads, queueLimit: backChannel.queue)
    }

    func pool(for lane: Router.Lane) -> BlockingPool {
        switch lane {
        case .login: login
        case .backChannel: backChannel
        }
    }
}
