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
        let (arguments, env) = mpirunCommand(ranks: ranks, args, environment: environment)
        return launch("/usr/bin/env", arguments, environment: env, timeout: timeout, currentDirectory: currentDirectory)
    }

    /// The arguments of `/usr/bin/env` and the environment that run
    /// `mpirun -np ranks faconvlstm args...` as root, oversubscribed, one BLAS
    /// thread per rank, with `environment` exported to every rank.
    static func mpirunCommand(ranks: Int, _ args: [String], environment: [String: String]) -> (arguments: [String], environment: [String: String]) {
        var env = environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        let arguments = ["mpirun", "--oversubscribe", "-np", String(ranks), "-x", "OPENBLAS_NUM_THREADS=1"]
            + environment.keys.sorted().flatMap { ["-x", $0] } + [path] + args
        return (arguments, env)
    }

    /// Runs `executable args...` to the end (or `timeout`).
    public static func launch(_ executable: String, _ args: [String], environment: [String: String],
                              timeout: TimeInterval, currentDirectory: String?) -> RunResult {
        do {
            return try RunningBinary(executable: executable, args, environment: environment, currentDirectory: currentDirectory)
                .finish(timeout: timeout)
        } catch {
            return RunResult(status: -1, stdout: "", stderr: "cannot launch \(executable): \(error)", timedOut: false)
        }
    }
}

/// A fresh temporary directory, removed by the caller's `defer`.
public func makeTemporaryDirectory(_ prefix: String = "faconvlstm-test") -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
