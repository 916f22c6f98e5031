import ClimateData
import Foundation
import Kernels
import Model
import NetCDF
import Training
import XCTest

/// Training states with awkward values (extreme counters, -0, subnormals,
/// large and tiny floats), so a round trip that is not bitwise would show.
enum Fixtures {
    static func model(_ cell: ModelConfig.Cell = .faconvlstm, channels: Int = 3, hidden: Int = 6, layers: Int = 2) -> ModelConfig {
        var m = ModelConfig()
        m.cell = cell
        m.channels = channels
        m.hidden = hidden
        m.layers = layers
        m.dilations = [1, 2]
        m.attnStride = 2
        m.attnDk = 4
        m.embedDim = 4
        m.objective = .forecast
        return m
    }

    /// Values from (seed, name), with a few special ones mixed in.
    static func values(_ n: Int, seed: UInt64, _ name: String, positive: Bool = false) -> [Float] {
        var rng = CounterRNG(seed: seed, streamName: name)
        return (0 ..< n).map { i in
            let special: [Float] = [-0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, 3.4e38, 1e-30, .pi]
            var v = i < special.count ? special[i] : Float(rng.uniform(-2, 2))
            if positive { v = abs(v) }
            return v
        }
    }

    static func state(_ model: ModelConfig = model(), step: Int = 17, adam: Bool = true, seed: UInt64 = 1) -> TrainingState {
        let n = ParameterLayout(config: model).totalCount
        let channels = (0 ..< model.channels).map { $0 == 1 ? "T@500" : "var\($0)" }
        let norm = Normalization(channels: channels,
                                 mean: (0 ..< model.channels).map { 280.5 + Double($0) * 0.1 + 1e-13 },
                                 std: (0 ..< model.channels).map { 10.0 / 3.0 + Double($0) })
        var w = TOMLWriter()
        w.set("seed", Int(seed))
        w.set("run_dir", "runs/test")
        model.write(to: &w)
        CheckpointPolicy().write(to: &w)
        return TrainingState(step: step, epoch: 3, samplesSeen: step * 16, seed: seed, worldSize: 4, config: w.text,
                             model: model, parameters: values(n, seed: seed &+ UInt64(step), "params"),
                             moments: adam ? AdamMoments(first: values(n, seed: seed, "m"), second: values(n, seed: seed, "v", positive: true)) : nil,
                             normalization: norm, created: "2026-01-02T03:04:05Z")
    }

    static func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }
    static func bits(_ v: [Double]) -> [UInt64] { v.map(\.bitPattern) }

    /// Flips one bit of the file at `offset`.
    static func flipBit(_ path: String, at offset: Int, mask: UInt8 = 0x10) throws {
        var d = try Data(contentsOf: URL(fileURLWithPath: path))
        d[offset] ^= mask
        try d.write(to: URL(fileURLWithPath: path))
    }

    static func truncate(_ path: String, to fraction: Double) throws {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        try d.prefix(Int(Double(d.count) * fraction)).write(to: URL(fileURLWithPath: path))
    }

    /// Opens a checkpoint for editing with the NetCDF layer (to damage it on purpose).
    static func edit(_ path: String, _ body: (NetCDFFile) throws -> Void) throws {
        let f = try NetCDFFile.open(path, writable: true)
        try body(f)
        try f.close()
    }

    enum VariableEdit { case keep, drop, asDouble, noChecksum, flatten }

    /// Copies a checkpoint with the NetCDF layer, attribute for attribute and
    /// value for value, changing the variables `edit` picks: the way to make
    /// files a correct writer never makes (a variable missing, float64, no
    /// checksum, another shape).
    static func rewrite(_ source: String, to target: String, _ edit: (_ group: String, _ name: String) -> VariableEdit) throws {
        let src = try NetCDFFile.open(source)
        defer { try? src.close() }
        let dst = try NetCDFFile.create(target, format: .netcdf4)
        for (k, v) in try src.root.attributes() { try dst.root.setAttribute(k, v) }
        var dims = Set<String>()
        var copies: [(NetCDFVariable, NetCDFVariable)] = []
        for g in try src.root.groups() {
            let name = String(g.path.dropFirst())
            let out = try dst.root.defineGroup(name)
            for (k, v) in try g.attributes() { try out.setAttribute(k, v) }
            for v in try g.variables() {
                let e = edit(name, v.name)
                if case .drop = e { continue }
                var shape = try v.shape()
                if case .flatten = e { shape = [shape.reduce(1, *)] }
                let dn = shape.enumerated().map { "d\($0)_\($1)" }
                for (d, n) in zip(dn, shape) where dims.insert(d).inserted { try dst.root.defineDimension(d, length: n) }
                let type: NetCDFType = { if case .asDouble = e { return .double }; return v.type }()
                let fletcher: Bool = { if case .noChecksum = e { return false }; return true }()
                copies.append((v, try out.defineVariable(v.name, type: type, dimensions: dn, fletcher32: fletcher)))
            }
        }
        for (from, to) in copies { try to.writeAll(try from.readAll(Double.self)) }
        try dst.close()
    }

    /// Runs a command, returning (status, stdout + stderr).
    static func shell(_ args: [String]) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "cannot run \(args): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension XCTestCase {
    /// Asserts that `body` throws a `CheckpointError` of `kind` whose one-line
    /// message names `path` and contains every fragment.
    func assertCheckpointError(_ kind: CheckpointError.Kind, _ path: String, _ fragments: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected a \(kind) error for \(path), got none", file: file, line: line)
        } catch let e as CheckpointError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            XCTAssertEqual(e.path, path, file: file, line: line)
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix(path + ": "), text, file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' not in: \(text)", file: file, line: line) }
        } catch {
            XCTFail("expected a CheckpointError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }
}
