import Foundation
import NetCDF
import TestSupport
import XCTest

/// Small models trained once per test process on the real storm set (forecast
/// and reconstruct) and on synthetic data with known regimes; a few seconds each.
final class AnalysisFixture: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    static let shared = AnalysisFixture()
    let lock = NSLock()
    let directory = makeTemporaryDirectory("faconvlstm-analysis")
    private var trained: [String: String] = [:]

    static let storm = StormTestRun.files

    /// The storm run config (the TrainTests model: 12 x 12 tiles, halo 1, window 4).
    static func stormConfig(runDir: String, objective: String, variables: [String] = ["u", "v", "t", "p"], steps: Int = 60) -> String {
        StormTestRun.config(runDir: runDir, objective: objective, variables: variables, steps: steps, train: "log_every = 10")
    }

    /// Writes `text` to `<directory>/<name>` and returns the path.
    func write(_ name: String, _ text: String) -> String {
        let path = directory + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    /// The run directory and config of a trained storm model ("forecast" or "reconstruct").
    func storm(_ objective: String) throws -> (run: String, config: String) {
        lock.lock()
        defer { lock.unlock() }
        let run = directory + "/storm-\(objective)"
        let config = directory + "/storm-\(objective).toml"
        if trained[objective] == nil {
            _ = write("storm-\(objective).toml", AnalysisFixture.stormConfig(runDir: run, objective: objective))
            let r = FAConvLSTMBinary.run(["train", "--config", config])
            guard r.status == 0 else { throw TestFailure("training failed: \(r.output)") }
            trained[objective] = run
        }
        return (run, config)
    }
}

/// Reads a variable of a NetCDF file, and a file's global attributes.
enum NC {
    static func read<T: NetCDFNumeric>(_ path: String, _ variable: String, as: T.Type = T.self) throws -> [T] {
        let f = try NetCDFFile.open(path)
        defer { try? f.close() }
        return try f.root.variable(variable).readAll(T.self)
    }

    static func attributes(_ path: String, _ variable: String? = nil) throws -> [String: NetCDFAttribute] {
        let f = try NetCDFFile.open(path)
        defer { try? f.close() }
        return try variable.map { try f.root.variable($0).attributes() } ?? f.root.attributes()
    }

    static func dimensions(_ path: String, _ variable: String) throws -> [String] {
        let f = try NetCDFFile.open(path)
        defer { try? f.close() }
        return try f.root.variable(variable).dimensionNames
    }

    static func variableNames(_ path: String) throws -> [String] {
        let f = try NetCDFFile.open(path)
        defer { try? f.close() }
        return try f.root.variables().map(\.name)
    }
}
