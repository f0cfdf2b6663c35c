#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import EventLoop
import FoundationEssentials
import Logging
import Metrics
import Posix
import Synchronization
import TLS

/// The daemon's lifecycle: load, bind, start the loop threads, then handle signals on
/// the control thread (the caller's) until asked to stop.
///
///     starting -> serving -(SIGHUP)-> reloading -> serving -(SIGTERM/SIGINT)-> draining -> stopped
public final class GatewayServer {
    private let configPath: String
    private var logger = Logger(label: "cns-gateway")
    private var shared: SharedState?
    private var listeners: [BoundListener] = []
    private let wakers = WakerList()
    private let heartbeats = LoopHeartbeats()
    private let finished = DispatchSemaphore(value: 0)
    private var generationNumber = 1
    private let notifier = SystemdNotifier()

    public init(configPath: String) {
        self.configPath = configPath
    }

    /// Runs the daemon; returns the process exit status.
    public func run() -> Int32 {
        Posix.Process.ignoreSIGPIPE()
        let signals = [SIGHUP, SIGTERM, SIGINT]
        // Blocked before any thread starts, so only the control thread sees them.
        Posix.Process.blockSignals(signals)

        let config: GatewayConfig
        do {
            config = try GatewayConfig.load(path: configPath)
        } catch {
            Posix.Process.writeStandardError("cns-gateway: invalid configuration\n\(error)\n")
            return 2
        }
        GatewayLogHandler.bootstrap(level: config.logLevel, format: config.logFormat)
        logger = Logger(label: "cns-gateway")
        // Before any thread records a metric: handles made earlier would stay no-ops.
        GatewayMetrics.bootstrap()
        Posix.Process.raiseOpenFileLimit()
        // How `trust-list import` finds this process to reload it; released at exit.
        let pidFile = GatewayPIDFile.acquire(config, logger: logger)
        defer { pidFile?.release() }

        // The first generation is held by `shared` alone (as every later one is): a reference
        // kept here would pin its trust store, CRLs and all, for the life of the process.
        let shared: SharedState
        do {
            shared = SharedState(generation: try Generation(number: generationNumber, config: config))
        } catch {
            logger.critical("start_failed", metadata: ["error": "\(error.reason)", "part": "\(error.code.rawValue)"])
            return 1
        }
        self.shared = shared

        var inherited = SocketActivation.inheritedListeners()
        for (index, listener) in config.listeners.enumerated() {
            do {
                let fd: Int32
                if let match = inherited.firstIndex(where: { $0.address == listener.address }) {
                    // Socket activation: systemd bound the port (e.g. 443) for us.
                    fd = inherited.remove(at: match).fd
                } else {
                    fd = try Socket.listen(on: listener.address)
                }
                let bound = try Socket.localAddress(fd)
                listeners.append(BoundListener(index: index, name: listener.name, fd: fd, address: bound))
                logger.info("listening", metadata: [
                    "listener": "\(listener.name)", "address": "\(bound)",
                    "client_certificate": "\(listener.forwarded == nil ? listener.clientCertificate.rawValue : "forwarded")",
                    "protocol": "\(listener.isPlainHTTP ? "http" : "https")",
                ])
            } catch {
                logger.critical("start_failed", metadata: ["listener": "\(listener.name)", "address": "\(listener.address)", "error": "\(error)"])
                closeListeners()
                return 1
            }
        }

        if let adminAddress = config.adminAddress {
            do {
                let fd = try Socket.listen(on: adminAddress)
                let bound = try Socket.localAddress(fd)
                listeners.append(BoundListener(index: listeners.count, name: "admin", fd: fd, address: bound, admin: true))
                logger.info("listening", metadata: ["listener": "admin", "address": "\(bound)", "protocol": "http"])
            } catch {
                logger.critical("start_failed", metadata: ["listener": "admin", "address": "\(adminAddress)", "error": "\(error)"])
                closeListeners()
                return 1
            }
        }
        let router = Router(accessLog: config.accessLog)
        let pools = BlockingPools(login: config.loginPool, backChannel: config.backChannelPool)
        let threads = config.effectiveLoopThreads
        let started = Atomic<Int>(0)
        for id in 0..<threads {
            let boundListeners = listeners
            let beat = heartbeats.register(loop: id)
            Posix.Thread.start(name: "cns-loop-\(id)") { [wakers, finished] in
                do {
                    let worker = try Worker(id: id, shared: shared, listeners: boundListeners, router: router, pools: pools, heartbeat: beat)
                    wakers.add(worker.loop.mailbox)
                    started.wrappingAdd(1, ordering: .releasing)
                    worker.run()
                } catch {
                    Logger(label: "cns-gateway").critical("worker_failed", metadata: ["error": "\(error)"])
                    started.wrappingAdd(1, ordering: .releasing)
                }
                finished.signal()
            }
        }
        while started.load(ordering: .acquiring) < threads { usleep(1000) }
        for warning in config.warnings { logger.warning("config_warning", metadata: ["detail": "\(warning)"]) }
        Self.logRevocationGaps(shared.generation, logger: logger)
        logger.info("ready", metadata: [
            "loop_threads": .stringConvertible(threads),
            "ca_certificates": .stringConvertible(shared.generation.trust.caCount),
            "crls": .stringConvertible(shared.generation.trust.crls.count),
        ])

        for leftover in inherited {
            logger.warning("socket_unused", metadata: ["address": "\(leftover.address)", "detail": "activated socket matches no listener"])
        }
        notifier.ready(status: statusLine(shared))
        CRLRefresher.start(shared: shared)
        TrustListRefresher.start(shared: shared)

        let tick = notifier.watchdogInterval.map { Int32(max(0.05, min(1.0, $0)) * 1000) } ?? 1000
        var reportedStall = false
        while true {
            if notifier.watchdogInterval != nil {
                // Only while every loop is alive: a stuck loop stops the pings, and systemd
                // restarts the gateway after WatchdogSec.
                let stalled = heartbeats.stalled()
                if stalled.isEmpty {
                    notifier.watchdog()
                    reportedStall = false
                } else if !reportedStall {
                    reportedStall = true
                    for (loop, seconds) in stalled {
                        logger.critical("event_loop_stalled", metadata: [
                            "loop": .stringConvertible(loop), "seconds": .stringConvertible(Int(seconds)),
                            "detail": "watchdog pings stop; systemd restarts the gateway after WatchdogSec",
                        ])
                    }
                }
            }
            Posix.Process.trimHeapIfRequested()
            guard let signal = Posix.Process.waitForSignal(signals, timeoutMilliseconds: tick) else { continue }
            if signal == SIGHUP {
                notifier.reloading()
                reload(shared)
                notifier.ready(status: statusLine(shared))
                continue
            }
            logger.info("stopping", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
            break
        }

        notifier.stopping()
        shared.draining.store(true, ordering: .releasing)
        wakers.wakeAll()
        let deadline = DispatchTime.now() + shared.generation.config.drainTimeout
        for _ in 0..<200 where shared.drainingLoops.load(ordering: .acquiring) < threads { usleep(5000) }
        if shared.drainingLoops.load(ordering: .acquiring) >= threads { closeListeners() }
        var remaining = threads
        while remaining > 0, finished.wait(timeout: deadline) == .success { remaining -= 1 }
        if remaining > 0 {
            logger.warning("drain_timeout", metadata: ["open_connections": .stringConvertible(shared.openConnections.load(ordering: .relaxed))])
        }
        closeListeners()
        logger.info("stopped")
        return 0
    }

    /// Re-reads the config and everything it names, off the loop threads; installs the
    /// new generation only if all of it loaded. Otherwise the last good one stays.
    private func reload(_ shared: SharedState) {
        logger.info("reloading")
        let current = shared.generation
        let bound = listeners
        let logger = self.logger
        do throws(GenerationError) {
            let generation = try Generation.load(number: generationNumber + 1, path: configPath) { config in
                // Sockets stay bound: listener address changes need a restart.
                for listener in bound where !listener.admin {
                    if let updated = config.listeners.first(where: { $0.name == listener.name }) {
                        if let old = current.listener(named: listener.name), updated.address != old.address {
                            logger.warning("restart_required", metadata: [
                                "listener": "\(listener.name)", "configured": "\(updated.address)", "bound": "\(listener.address)",
                            ])
                        }
                    } else if let old = current.listener(named: listener.name) {
                        logger.warning("restart_required", metadata: ["listener": "\(listener.name)", "detail": "listener removed from the configuration; still serving"])
                        config.listeners.append(old)
                    }
                }
                for listener in config.listeners where !bound.contains(where: { $0.name == listener.name && !$0.admin }) {
                    logger.warning("restart_required", metadata: ["listener": "\(listener.name)", "detail": "new listener is bound only at start"])
                }
            }
            generationNumber += 1
            shared.install(generation)
            for warning in generation.config.warnings { logger.warning("config_warning", metadata: ["detail": "\(warning)"]) }
            Self.logRevocationGaps(generation, logger: logger)
            Counter(label: "cns_reloads_total", dimensions: [("result", "ok")]).increment()
            logger.info("reload", metadata: [
                "result": "ok", "generation": .stringConvertible(generation.number),
                "ca_certificates": .stringConvertible(generation.trust.caCount),
                "crls": .stringConvertible(generation.trust.crls.count),
            ])
        } catch {
            Counter(label: "cns_reloads_total", dimensions: [("result", "failed")]).increment()
            shared.recordFailedReload(error.reason)
            logger.error("reload", metadata: ["result": "failed", "error": "\(error.reason)", "part": "\(error.code.rawValue)"])
        }
    }

    /// The one-line STATUS= systemd shows: what the daemon is doing and how fresh its trust is.
    private func statusLine(_ shared: SharedState) -> String {
        let generation = shared.generation
        let reload = shared.reloadStatus
        var line = "serving, \(generation.trust.caCount) CA, \(generation.trust.crls.count) CRL"
        line += generation.trust.crlsFresh ? ", CRLs fresh" : ", CRLs STALE"
        let overdue = generation.trust.revocationProblems().overdue.count
        if overdue > 0 { line += ", \(overdue) CA CRL OVERDUE (cards refused)" }
        if !reload.ok { line += ", last reload FAILED" }
        return line
    }

    private func closeListeners() {
        for listener in listeners { Socket.close(listener.fd) }
        listeners.removeAll()
    }
}

/// The loop threads' mailboxes, registered as each loop starts: waking them makes each loop
/// look at the draining flag at once.
final class WakerList: Sendable {
    private let mailboxes = Mutex<[Mailbox<Worker.Delivery>]>([])
    func add(_ mailbox: Mailbox<Worker.Delivery>) { mailboxes.withLock { $0.append(mailbox) } }
    func wakeAll() { for mailbox in mailboxes.withLock({ $0 }) { mailbox.wake() } }
}

extension GatewayServer {
    /// One line per start or reload naming the CAs nothing can tell a revoked card of (no CRL,
    /// none to fetch, OCSP off): check-config lists them one by one.
    static func logRevocationGaps(_ generation: Generation, logger: Logger) {
        let gaps = ConfigCheck.revocationWarnings(generation.config, trust: generation.trust, path: generation.config.file)
        guard !gaps.isEmpty else { return }
        logger.warning("revocation_source_missing", metadata: [
            "count": .stringConvertible(gaps.count),
            "detail": "\(gaps.prefix(5).joined(separator: " | "))\(gaps.count > 5 ? " | and \(gaps.count - 5) more (cns-gateway check-config lists them)" : "")",
        ])
    }
}
