import ClimateData
import Foundation
import NetCDF
import TestSupport
import XCTest

final class NormalizationTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("norm") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Statistics over the training frames only (validation excluded), valid
    /// points only, against a direct two-pass Float64 computation (1e-12 relative).
    func testStatisticsMatchADirectComputationAndExcludeValidation() throws {
        var o = SynthOptions()
        o.directory = dir; o.variables = 2; o.times = 40; o.height = 8; o.width = 10; o.missingFraction = 0.1; o.seed = 3
        o.split = .variable
        try Synth.write(o)
        let cfg = config(["\(dir)/synth_*.nc"], ["tas", "psl"]) { $0.validationRange = .indices(30, 39) }
        let d = try ClimateDataset.open(cfg)
        let norm = try Normalization.compute(d)
        for c in 0 ..< 2 {
            // Independent reference: raw floats from the file, fill -9999 skipped, frames 0..29.
            let f = try NetCDFFile.open("\(dir)/synth_\(o.variableName(c)).nc")
            let raw = try f.root.variable(o.variableName(c)).read(Float.self, start: [0, 0, 0], count: [30, 8, 10])
            let valid = raw.filter { $0 != -9999 }.map(Double.init)
            let mean = valid.reduce(0, +) / Double(valid.count)
            let std = (valid.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(valid.count)).squareRoot()
            XCTAssertEqual(norm.mean[c], mean, accuracy: 1e-12 * abs(mean))
            XCTAssertEqual(norm.std[c], std, accuracy: 1e-12 * std)
            XCTAssertEqual(norm.validCount[c], Double(valid.count))
            XCTAssertGreaterThan(norm.missingFraction[c], 0.05)
        }
    }

    /// Simulated ranks (each computing its share, summed by a fake all-reduce)
    /// give bit-identical statistics to one rank.
    func testSplittingAcrossRanksGivesIdenticalResults() throws {
        var o = SynthOptions()
        o.directory = dir; o.variables = 3; o.times = 23; o.height = 5; o.width = 7; o.missingFraction = 0.2
        try Synth.write(o)
        let d = try ClimateDataset.open(config(["\(dir)/synth.nc"], ["tas", "psl", "uas"]))
        let one = try Normalization.compute(d)
        for ranks in [2, 3] {
            // Run the ranks one after the other, block by block: record each rank's
            // contributions, then replay the sum to all of them.
            var contributions: [[[Double]]] = Array(repeating: [], count: ranks)
            for r in 0 ..< ranks {
                _ = try Normalization.compute(d, rank: r, ranks: ranks) { contributions[r].append($0) }
            }
            var call = 0
            let sum: (inout [Double]) -> Void = { buf in
                buf = (0 ..< buf.count).map { i in (0 ..< ranks).reduce(0.0) { $0 + contributions[$1][call][i] } }
                call += 1
            }
            let combined = try Normalization.compute(d, rank: 0, ranks: ranks, allReduceSum: sum)
            XCTAssertEqual(combined.mean, one.mean)
            XCTAssertEqual(combined.std, one.std)
        }
    }

    func testConstantChannelIsAnErrorNamingIt() throws {
        let p = "\(dir)/c.nc"
        try writeTestFile(p, times: [0, 1], lat: [0, 1], lon: [0, 1, 2], variables: [
            TestVar(name: "a", values: (0 ..< 12).map(Double.init)), TestVar(name: "k", values: [Double](repeating: 5, count: 12)),
        ])
        XCTAssertThrowsError(try Normalization.compute(ClimateDataset.open(config([p], ["a", "k"])))) { e in
            XCTAssertTrue("\(e)".hasPrefix("data.variables: channel 'k' is constant over the training range"), "\(e)")
        }
    }

    func testCacheIsReusedOnlyWhenTheFingerprintMatches() throws {
        var o = SynthOptions()
        o.directory = dir; o.variables = 2; o.times = 10; o.height = 4; o.width = 4
        try Synth.write(o)
        let run = "\(dir)/run"
        let d = try ClimateDataset.open(config(["\(dir)/synth.nc"], ["tas", "psl"]))
        let (first, cached1) = try Normalization.loadOrCompute(d, runDirectory: run)
        XCTAssertFalse(cached1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(run)/normalization.json"))
        let (second, cached2) = try Normalization.loadOrCompute(d, runDirectory: run)
        XCTAssertTrue(cached2)
        XCTAssertEqual(first, second)
        // A different training range is a different fingerprint: recomputed.
        let d2 = try ClimateDataset.open(config(["\(dir)/synth.nc"], ["tas", "psl"]) { $0.timeRange = .indices(0, 4) })
        XCTAssertNotEqual(d.fingerprint, d2.fingerprint)
        let (third, cached3) = try Normalization.loadOrCompute(d2, runDirectory: run)
        XCTAssertFalse(cached3)
        XCTAssertNotEqual(third.mean, first.mean)
    }
}
