import CMPI
import Foundation

/// Ends the whole job when one marked phase of the training loop lasts too
/// long (a hung collective, a stuck file system, a dead peer), so the
/// scheduler gets the allocation back instead of idling for hours.
///
/// The training thread marks phases with `begin(step:operation:)` / `end()`;
/// a background thread checks every `resolution` seconds. When a phase has
/// lasted more than its timeout it prints
/// `faconvlstm: error: [rank R] watchdog: step S stuck in <operation> for N s (timeout T s); aborting the job`
/// and calls `MPI_Abort` with exit code 3 (plain `_exit(3)` without MPI).
///
/// Phases do not nest: `begin` while a phase is open replaces it. Marking costs
/// one uncontended lock and no allocation (operation names are literals).
public final class Watchdog: @unchecked Sendable {
    // @unchecked: every mutable field below is read and written only under `condition`.
    public let timeout: Double
    public let rank: Int
    public let resolution: Double
    private let communicator: Communicator
    private let condition = NSCondition()
    private var phaseStart: Double?
    private var phaseTimeout: Double = 0
    private var step = 0
    private var operation = ""
    private var stopped = false
    private var threadExited = false

    public static let exitCode: Int32 = 3

    /// Starts the watchdog thread. `timeout` is the default for each phase.
    public init(timeout: Double, communicator: Communicator, resolution: Double = 0.25) {
        precondition(timeout > 0 && resolution > 0)
        self.timeout = timeout
        self.rank = communicator.rank
        self.resolution = resolution
        self.communicator = communicator
        let thread = Thread { [self] in self.watch() }
        thread.name = "faconvlstm-watchdog"
        thread.start()
    }

    /// A phase starts. `timeout` overrides the default for this phase (a
    /// checkpoint save on a slow file system may need longer than a step).
    public func begin(step: Int, operation: String, timeout: Double? = nil) {
        condition.lock()
        self.step = step
        self.operation = operation
        self.phaseTimeout = timeout ?? self.timeout
        self.phaseStart = monotonicSeconds()
        condition.unlock()
    }

    /// A phase starts, at the step of the last `begin(step:...)`.
    public func begin(operation: String, timeout: Double? = nil) {
        condition.lock()
        let s = step
        condition.unlock()
        begin(step: s, operation: operation, timeout: timeout)
    }

    /// The phase ended in time.
    public func end() {
        condition.lock()
        phaseStart = nil
        condition.unlock()
    }

    /// Runs `body` as one phase.
    public func phase<R>(step: Int, _ operation: String, timeout: Double? = nil, _ body: () throws -> R) rethrows -> R {
        begin(step: step, operation: operation, timeout: timeout)
        defer { end() }
        return try body()
    }

    /// Disarms and joins the thread (normal exit). Idempotent.
    public func stop() {
        condition.lock()
        stopped = true
        phaseStart = nil
        condition.broadcast()
        while !threadExited { condition.wait() }
        condition.unlock()
    }

    private func watch() {
        condition.lock()
        while !stopped {
            _ = condition.wait(until: Date(timeIntervalSinceNow: resolution))
            guard !stopped, let start = phaseStart else { continue }
            let elapsed = monotonicSeconds() - start
            if elapsed > phaseTimeout {
                let message = "faconvlstm: error: [rank \(rank)] watchdog: step \(step) stuck in \(operation) for "
                    + "\(Int(elapsed.rounded())) s (timeout \(Watchdog.format(phaseTimeout)) s); aborting the job\n"
                condition.unlock()
                Watchdog.abortJob(message: message, communicator: communicator)
            }
        }
        threadExited = true
        condition.broadcast()
        condition.unlock()
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// Prints `message` and ends the job with exit code 3. If MPI_Abort itself
    /// does not return or end the process within 30 s (mpirun gone), exits anyway.
    static func abortJob(message: String, communicator: Communicator) -> Never {
        writeToStandardError(message)
        let fallback = Thread {
            Thread.sleep(forTimeInterval: 30)
            _exit(Watchdog.exitCode)
        }
        fallback.start()
        if communicator.usesMPI { MPI_Abort(cmpi_comm_world(), Watchdog.exitCode) }
        _exit(Watchdog.exitCode)
    }
}
