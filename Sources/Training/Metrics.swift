import Distributed
import Foundation

/// One line of `<run>/metrics.jsonl`: the state after an optimizer step,
/// averaged over the logging interval where it is a rate or a time.
public struct MetricsRecord: Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    public var samplesSeen: Int
    public var loss: Double
    public var lr: Double
    public var gradNorm: Double
    public var samplesPerSecond: Double
    public var stepTime: Double
    public var timeForward: Double
    public var timeBackward: Double
    /// All-reduce time the step waited for: the gradients' that backward did not hide
    /// (`AllReduceTimings.exposedSeconds`) and the loss denominator's after the forward.
    public var timeAllReduceExposed: Double
    public var timeDataWait: Double
    public var slowestRankStepTime: Double
    /// Optional fields (validation loss, ...), written after the fixed ones in
    /// this order; keys in snake_case.
    public var extra: [(key: String, value: Double)]

    public init(step: Int, epoch: Int, samplesSeen: Int, loss: Double, lr: Double, gradNorm: Double,
                samplesPerSecond: Double, stepTime: Double, timeForward: Double, timeBackward: Double,
                timeAllReduceExposed: Double, timeDataWait: Double, slowestRankStepTime: Double,
                extra: [(key: String, value: Double)] = []) {
        self.step = step
        self.epoch = epoch
        self.samplesSeen = samplesSeen
        self.loss = loss
        self.lr = lr
        self.gradNorm = gradNorm
        self.samplesPerSecond = samplesPerSecond
        self.stepTime = stepTime
        self.timeForward = timeForward
        self.timeBackward = timeBackward
        self.timeAllReduceExposed = timeAllReduceExposed
        self.timeDataWait = timeDataWait
        self.slowestRankStepTime = slowestRankStepTime
        self.extra = extra
    }

    public static func == (a: MetricsRecord, b: MetricsRecord) -> Bool {
        a.jsonLine == b.jsonLine
    }

    /// One JSON object, keys in a fixed order, newline-terminated. Non-finite
    /// numbers (a NaN loss) are written as null: JSON has no NaN.
    public var jsonLine: String {
        var s = "{\"step\":\(step),\"epoch\":\(epoch),\"samples_seen\":\(samplesSeen)"
        func add(_ key: String, _ v: Double) { s += ",\"\(key)\":" + MetricsRecord.number(v) }
        add("loss", loss)
        add("lr", lr)
        add("grad_norm", gradNorm)
        add("samples_per_s", samplesPerSecond)
        add("step_time_s", stepTime)
        add("time_forward_s", timeForward)
        add("time_backward_s", timeBackward)
        add("time_allreduce_exposed_s", timeAllReduceExposed)
        add("time_data_wait_s", timeDataWait)
        add("slowest_rank_step_time_s", slowestRankStepTime)
        for (k, v) in extra { add(k, v) }
        return s + "}\n"
    }

    /// Shortest text that reads back to the same Double (valid JSON), or null.
    static func number(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }
}

/// Appends `MetricsRecord`s to `<run>/metrics.jsonl`. Rank 0 alone creates one.
/// Each line is one write(2) on an O_APPEND descriptor, so a job killed at any
/// moment leaves only complete lines (up to the kernel; no user-space buffer).
public final class MetricsWriter {
    public let path: String
    private var fd: Int32

    /// Opens for appending, creating the file. On resume (`resumingAfterStep`),
    /// first drops the lines of steps after the checkpoint's step (they will be
    /// run again) and a partial last line, so the file has each step once.
    public init(path: String, resumingAfterStep: Int? = nil) throws {
        self.path = path
        if let step = resumingAfterStep, FileManager.default.fileExists(atPath: path) {
            try MetricsWriter.truncate(path: path, afterStep: step)
        }
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw RunError("metrics file \(path): cannot open: \(String(cString: strerror(errno)))") }
    }

    deinit { close() }

    public func append(_ record: MetricsRecord) throws {
        let line = Array(record.jsonLine.utf8)
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != line.count {
            throw RunError("metrics file \(path): write failed: \(n < 0 ? String(cString: strerror(errno)) : "short write")")
        }
    }

    public func close() {
        if fd >= 0 { _ = Foundation.close(fd) }
        fd = -1
    }

    /// Keeps the complete lines whose step is at most `step`; atomic (temp + rename).
    static func truncate(path: String, afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RunError("metrics file \(path): cannot be read")
        }
        var kept = Data()
        var start = data.startIndex
        while let nl = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = data[start ..< nl]
            if let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
               let s = obj["step"] as? Int, s <= step {
                kept.append(line)
                kept.append(UInt8(ascii: "\n"))
            }
            start = data.index(after: nl)
        }
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: kept), rename(tmp, path) == 0 else {
            throw RunError("metrics file \(path): cannot rewrite for resume: \(String(cString: strerror(errno)))")
        }
    }
}

/// Rank 0's progress on stderr: a one-line bar redrawn in place on a terminal,
/// plain lines at most every `plainInterval` seconds otherwise (batch logs).
public final class ProgressDisplay {
    public let totalSteps: Int
    public let isTerminal: Bool
    public let plainInterval: Double
    private let sink: (String) -> Void
    private var lastPlain = -Double.infinity
    private var drawn = false

    public init(totalSteps: Int, isTerminal: Bool = standardErrorIsTerminal, plainInterval: Double = 30,
                sink: @escaping (String) -> Void = writeToStandardError) {
        self.totalSteps = totalSteps
        self.isTerminal = isTerminal
        self.plainInterval = plainInterval
        self.sink = sink
    }

    /// `step` is the number of optimizer steps done so far.
    public func update(_ r: MetricsRecord, now: Double = monotonicSeconds()) {
        let done = min(max(r.step, 0), totalSteps)
        let left = Double(totalSteps - done) * r.stepTime
        let stats = "step \(done)/\(totalSteps) loss \(ProgressDisplay.fixed(r.loss, 4)) "
            + "\(ProgressDisplay.fixed(r.samplesPerSecond, 1)) samples/s eta \(ProgressDisplay.duration(left))"
        if isTerminal {
            let width = 24
            let filled = totalSteps > 0 ? done * width / totalSteps : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            sink("\r[\(bar)] \(stats)\u{1B}[K")
            drawn = true
        } else if now - lastPlain >= plainInterval || done == totalSteps {
            sink("progress: \(stats)\n")
            lastPlain = now
        }
    }

    /// Ends the bar's line (terminal), so later output starts on a fresh line.
    public func finish() {
        if isTerminal && drawn { sink("\n") }
        drawn = false
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        v.isFinite ? String(format: "%.\(digits)f", v) : "nan"
    }

    /// "1h02m", "3m05s", "42s".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
