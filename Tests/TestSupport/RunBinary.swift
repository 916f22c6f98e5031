import Foundation

/// What a run of the faconvlstm binary produced.
public struct RunResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let timedOut: Bool
    public var output: String { stdout + stderr }
}

/// Runs the release binary (path from FACONVLSTM_BIN, set by scripts/test.sh)
/// directly or under mpirun, from tests.
public enum FAConvLSTMBinary {
    public static var path: String {
        if let p = ProcessInfo.processInfo.environment["FACONVLSTM_BIN"], !p.isEmpty { return p }
        // Tests run from the package root.
        return FileManager.default.currentDirectoryPath + "/.build/release/faconvlstm"
    }

    public static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs `faconvlstm args...` as one process (MPI singleton when it initializes MPI).
    public static func run(_ args: [String], environment: [String: String] = [:], timeout: TimeInterval = 300,
                           currentDirectory: String? = nil) -> RunResult {
        launch(path, args, environment: environment, timeout: timeout, currentDirectory: currentDirectory)
    }

    /// Runs `mpirun -np ranks faconvlstm args...`, oversubscribed, one BLAS thread per rank.
    public static func mpirun(ranks: Int, _ args: [String], environment: [String: String] = [:],
                              timeout: TimeInterval = 300, currentDirectory: String? = nil) -> RunResult {
        var env = environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        let mpiArgs = ["--oversubscribe", "-np", String(ranks), "-x", "OPENBLAS_NUM_THREADS=1"]
            + environment.keys.sorted().flatMap { ["-x", $0] } + [path] + args
        return launch("/usr/bin/env", ["mpirun"] + mpiArgs, environment: env, timeout: timeout, currentDirectory: currentDirectory)
    }

    public static func launch(_ executable: String, _ args: [String], environment: [String: String],
                              timeout: TimeInterval, currentDirectory: String?) -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let d = currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: d) }
        // Files, not pipes: a chatty child can never block on a full pipe.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faconvlstm-run-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        guard let outH = try? FileHandle(forWritingTo: outURL), let errH = try? FileHandle(forWritingTo: errURL) else {
            return RunResult(status: -1, stdout: "", stderr: "cannot create output files", timedOut: false)
        }
        p.standardOutput = outH
        p.standardError = errH
        do { try p.run() } catch {
            return RunResult(status: -1, stdout: "", stderr: "cannot launch \(executable): \(error)", timedOut: false)
        }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                timedOut = true
                p.terminate()
                Thread.sleep(forTimeInterval: 2)
                if p.isRunning { kill(p.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.waitUntilExit()
        try? outH.close()
        try? errH.close()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return RunResult(status: p.terminationStatus, stdout: out, stderr: err, timedOut: timedOut)
    }
}

/// A fresh temporary directory, removed by the caller's `defer`.
public func makeTemporaryDirectory(_ prefix: String = "faconvlstm-test") -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
