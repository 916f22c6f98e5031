import ClimateData
import Foundation
import Model
import TestSupport
import XCTest

final class BatchReaderTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("reader") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A regional tile at the corner: halo rows/columns outside the grid are
    /// padding (input 0, mask 0), missing values are 0 with mask 0, the rest is
    /// (x - mean) / std; day of year per frame.
    func testBatchHoldsNormalizedValuesMaskAndPadding() throws {
        let lat = [0.0, 10, 20, 30], lon = [0.0, 1, 2, 3, 4]
        // 3 frames of 4 x 5: value = 100 t + 10 y + x, one fill value.
        var raw: [Double] = []
        for t in 0 ..< 3 { for y in 0 ..< 4 { for x in 0 ..< 5 { raw.append(Double(100 * t + 10 * y + x)) } } }
        raw[20 + 5 + 1] = -999  // t=1, y=1, x=1
        let p = "\(dir)/r.nc"
        try writeTestFile(p, times: [0, 1, 2], timeUnits: "days since 2001-02-27", lat: lat, lon: lon, variables: [
            TestVar(name: "x", values: raw, attributes: ["_FillValue": .floats([-999])]),
        ])
        let d = try ClimateDataset.open(config([p], ["x"]) { $0.tileHeight = 4; $0.tileWidth = 4; $0.halo = 1; $0.window = 2 })
        let space = try SampleSpace.training(d)
        // Interior 2 x 2: row origins 0, 2; column origins 0, 2, 3.
        XCTAssertEqual(space.tiling.rowOrigins, [0, 2])
        XCTAssertEqual(space.tiling.columnOrigins, [0, 2, 3])
        XCTAssertEqual(space.windowStarts, [0, 1])
        let norm = Normalization(channels: ["x"], mean: [50], std: [4])
        let reader = try BatchReader(dataset: d, normalization: norm, space: space)
        // Sample 6 = window 1 (frames 1, 2), tile 0 (corner -1, -1).
        let b = try reader.read([6])
        XCTAssertEqual(b.sampleIDs, [6])
        XCTAssertEqual(b.dayOfYear, [58, 59])  // 2001-02-28, 2001-03-01
        for t in 0 ..< 2 {
            for y in 0 ..< 4 {
                for x in 0 ..< 4 {
                    let gy = y - 1, gx = x - 1, frame = t + 1
                    let i = b.index(t: t, v: 0, b: 0, y: y, x: x)
                    let inside = gy >= 0 && gx >= 0
                    let missing = frame == 1 && gy == 1 && gx == 1
                    let expected: Float = inside && !missing ? Float((Double(100 * frame + 10 * gy + gx) - 50) / 4) : 0
                    XCTAssertEqual(b.inputs[i], expected, "t\(t) y\(y) x\(x)")
                    let interior = (1 ... 2).contains(y) && (1 ... 2).contains(x)
                    XCTAssertEqual(b.mask[i], interior && inside && !missing ? 1 : 0, "mask t\(t) y\(y) x\(x)")
                }
            }
        }
        let c = lat.map { cos($0 * Double.pi / 180) }, m = c.reduce(0, +) / 4
        XCTAssertEqual(b.latitudeWeights, [0, Float(c[0] / m), Float(c[1] / m), Float(c[2] / m)])
    }

    /// Prefetching gives the same batches as reading on the caller's thread,
    /// never holds more than `depth` batches, and stops cleanly mid-stream.
    func testPrefetchMatchesDirectReadsAndIsBounded() throws {
        var o = SynthOptions()
        o.directory = dir; o.variables = 3; o.times = 30; o.height = 12; o.width = 16; o.global = true; o.missingFraction = 0.05
        try Synth.write(o)
        let d = try ClimateDataset.open(config(["\(dir)/synth.nc"], ["tas", "psl", "uas"]) { $0.tileHeight = 8; $0.tileWidth = 8; $0.halo = 2; $0.window = 4 })
        let space = try SampleSpace.training(d)
        let norm = try Normalization.compute(d)
        let schedule = try EpochSchedule(sampleCount: space.count, globalBatch: 6, microBatch: 3, ranks: 2, seed: 5)
        let lists = (0 ..< 6).flatMap { s in schedule.microBatches(step: s, rank: 1) }
        let direct = try BatchReader(dataset: d, normalization: norm, space: space)
        let expected = try lists.map { try direct.read($0) }
        for prefetch in [false, true] {
            let stream = BatchStream(reader: try BatchReader(dataset: d, normalization: norm, space: space), count: lists.count,
                                     prefetch: prefetch, depth: 2) { lists[$0] }
            var got: [Batch<Float>] = []
            while let b = try stream.next() {
                XCTAssertLessThanOrEqual(stream.bufferedCount, 2)
                got.append(b)
            }
            XCTAssertEqual(got.map(\.inputs), expected.map(\.inputs))
            XCTAssertEqual(got.map(\.mask), expected.map(\.mask))
            XCTAssertEqual(got.map(\.sampleIDs), lists)
            XCTAssertNil(try stream.next())
        }
        // Stop after one batch of many: returns promptly, the thread is gone.
        let long = BatchStream(reader: direct, count: 1_000_000, prefetch: true) { k in [k % space.count] }
        _ = try long.next()
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertLessThanOrEqual(long.bufferedCount, 2)
        let t0 = Date()
        long.stop()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        XCTAssertNil(try long.next())
    }

    /// A read error on the prefetch thread reaches the caller as an error.
    func testPrefetchSurfacesReadErrors() throws {
        var o = SynthOptions()
        o.directory = dir; o.variables = 1; o.times = 10; o.height = 4; o.width = 4
        try Synth.write(o)
        let d = try ClimateDataset.open(config(["\(dir)/synth.nc"], ["tas"]))
        let space = try SampleSpace.training(d)
        let reader = try BatchReader(dataset: d, normalization: Normalization(channels: ["tas"], mean: [0], std: [1]), space: space)
        let stream = BatchStream(reader: reader, count: 5, prefetch: true) { k in k == 2 ? [999] : [k] }
        XCTAssertNotNil(try stream.next())
        XCTAssertNotNil(try stream.next())
        XCTAssertThrowsError(try stream.next()) { e in XCTAssertTrue("\(e)".contains("sample id 999"), "\(e)") }
        XCTAssertNil(try stream.next())
    }
}
