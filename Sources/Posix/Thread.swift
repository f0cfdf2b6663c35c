#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Long-lived threads (event loops, background refreshers) on plain pthreads: what
/// `Foundation.Thread` did for us, without loading libFoundation into the daemon.
public enum Thread {
    /// Runs `body` on a new detached thread with the default stack size, named `name` (what
    /// `top -H` and `ps -L` show; Linux keeps the first 15 bytes). Failing to start one is
    /// resource exhaustion at startup, which the process cannot work around: it traps.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Context(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            cns_set_thread_name(context.name)
            context.body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Context>.fromOpaque(context).release()
            preconditionFailure("pthread_create: \(String(cString: strerror(rc)))")
        }
    }

    /// Blocks the calling thread for `seconds`, the whole time even when a signal interrupts
    /// the sleep (as `Foundation.Thread.sleep(forTimeInterval:)`).
    public static func sleep(seconds: Double) {
        let whole = seconds.rounded(.down)
        var request = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private final class Context: Sendable {
        let name: String
        let body: @Sendable () -> Void

        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
