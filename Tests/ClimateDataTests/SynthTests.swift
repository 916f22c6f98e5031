import ClimateData
import Foundation
import NetCDF
import TestSupport
import XCTest

final class SynthTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("synth") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Regimes: the label per step is written, every regime occurs, and frames
    /// of one regime are closer to each other than to frames of another.
    func testRegimesWriteTheirLabelsAndDistinctPatterns() throws {
        var o = SynthOptions()
        o.directory = dir; o.variables = 1; o.times = 200; o.height = 8; o.width = 8; o.regimes = 3; o.seed = 9
        try Synth.write(o)
        let f = try NetCDFFile.open("\(dir)/synth.nc")
        let labels = try f.root.variable("regime").readAll(Int32.self).map(Int.init)
        XCTAssertEqual(labels, Synth.regimeLabels(o))
        XCTAssertEqual(Set(labels), [0, 1, 2])
        let x = try f.root.variable("tas").readAll(Float.self)
        func frame(_ t: Int) -> [Float] { Array(x[t * 64 ..< (t + 1) * 64]) }
        func dist(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }
        let a = labels.firstIndex(of: 0)!, a2 = labels.lastIndex(of: 0)!, b = labels.firstIndex(of: 1)!
        XCTAssertLessThan(dist(frame(a), frame(a2)) * 4, dist(frame(a), frame(b)))
        // Same seed, same numbers.
        var o2 = o
        o2.directory = "\(dir)/again"
        try Synth.write(o2)
        XCTAssertEqual(try NetCDFFile.open("\(dir)/again/synth.nc").root.variable("tas").readAll(Float.self), x)
    }
}
