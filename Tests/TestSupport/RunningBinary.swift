import Foundation

/// The faconvlstm binary (usually under mpirun) started in the background, so
/// a test can signal it while it runs; `FAConvLSTMBinary.launch` runs one to the end.
public final class RunningBinary: @unchecked Sendable {
    // @unchecked: used from the one test thread that started it.
    public let process = Process()
    private let dir: URL
    private let outH: FileHandle
    private let errH: FileHandle

    /// Starts `mpirun -np ranks faconvlstm args...` like `FAConvLSTMBinary.mpirun`.
    public convenience init(mpiRanks ranks: Int, _ args: [String], environment: [String: String] = [:]) throws {
        let (arguments, env) = FAConvLSTMBinary.mpirunCommand(ranks: ranks, args, environment: environment)
        try self.init(executable: "/usr/bin/env", arguments, environment: env)
    }

    /// Starts `executable args...` with `environment` added to this process's.
    /// Output goes to files, not pipes: a chatty child can never block on a full pipe.
    public init(executable: String, _ args: [String], environment: [String: String], currentDirectory: String? = nil) throws {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.environment = env
        if let d = currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: d) }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("faconvlstm-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("out").path, contents: nil)
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("err").path, contents: nil)
        outH = try FileHandle(forWritingTo: dir.appendingPathComponent("out"))
        errH = try FileHandle(forWritingTo: dir.appendingPathComponent("err"))
        process.standardOutput = outH
        process.standardError = errH
        do { try process.run() } catch {
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
    }

    public var pid: Int32 { process.processIdentifier }

    /// Sends `signal` to mpirun itself.
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Sends `signal` to the ranks (the descendants of mpirun running the
    /// binary), as a batch system delivers it to every task of a job step.
    public func signalRanks(_ signal: Int32) {
        for pid in RunningBinary.descendants(of: process.processIdentifier) where RunningBinary.command(pid) == "faconvlstm" {
            kill(pid, signal)
        }
    }

    static func parent(_ pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    static func command(_ pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func descendants(of root: Int32) -> [Int32] {
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        var found: Set<Int32> = [root]
        var changed = true
        while changed {
            changed = false
            for p in all where !found.contains(p) {
                if let pp = parent(p), found.contains(pp) { found.insert(p); changed = true }
            }
        }
        found.remove(root)
        return Array(found)
    }

    /// Waits until `condition` holds or `timeout` passes; false on timeout or exit.
    public func waitFor(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// Waits for the exit; past `timeout` kills it (SIGTERM, then SIGKILL) and reports `timedOut`.
    public func finish(timeout: TimeInterval) -> RunResult {
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                Thread.sleep(forTimeInterval: 2)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        try? outH.close()
        try? errH.close()
        let out = (try? String(contentsOf: dir.appendingPathComponent("out"), encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: dir.appendingPathComponent("err"), encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: dir)
        return RunResult(status: process.terminationStatus, stdout: out, stderr: err, timedOut: timedOut)
    }
}
