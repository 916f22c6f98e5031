import ClimateData
import Kernels
import XCTest

final class SamplerTests: XCTestCase {
    /// For 1..4 ranks: every step's samples are the same whatever R, each rank
    /// gets equal contiguous slices, and an epoch uses every sample exactly once
    /// (N divisible by G) or every sample but the permutation's tail.
    func testEpochCoversEverySampleOnceForOneToFourRanks() throws {
        for n in [48, 50] {
            let g = 12
            let reference = try EpochSchedule(sampleCount: n, globalBatch: g, microBatch: 5, ranks: 1, seed: 7)
            XCTAssertEqual(reference.stepsPerEpoch, n / g)
            for ranks in [1, 2, 3, 4] {
                let s = try EpochSchedule(sampleCount: n, globalBatch: g, microBatch: 5, ranks: ranks, seed: 7)
                for epoch in 0 ..< 2 {
                    var seen: [Int] = []
                    for k in 0 ..< s.stepsPerEpoch {
                        let step = epoch * s.stepsPerEpoch + k
                        var stepSamples: [Int] = []
                        for r in 0 ..< ranks {
                            let mine = s.rankSamples(step: step, rank: r)
                            XCTAssertEqual(mine.count, g / ranks)
                            let micro = s.microBatches(step: step, rank: r)
                            XCTAssertEqual(micro.flatMap { $0 }, mine)
                            XCTAssertTrue(micro.allSatisfy { $0.count <= 5 && !$0.isEmpty })
                            stepSamples += mine
                        }
                        // Rank slices in rank order are the global step: independent of R.
                        XCTAssertEqual(stepSamples, reference.globalSamples(step: step))
                        seen += stepSamples
                    }
                    XCTAssertEqual(Set(seen).count, seen.count, "duplicate in epoch \(epoch) with \(ranks) ranks")
                    let order = seededPermutation(count: n, seed: 7, stream: UInt64(epoch))
                    XCTAssertEqual(seen, Array(order.prefix(s.samplesPerEpoch)))
                    if n % g == 0 { XCTAssertEqual(Set(seen), Set(0 ..< n)) }
                }
            }
            // Epochs differ in order.
            XCTAssertNotEqual(reference.order(epoch: 0), reference.order(epoch: 1))
            XCTAssertEqual(reference.location(samplesSeen: reference.samplesPerEpoch + g).epoch, 1)
            XCTAssertEqual(reference.location(samplesSeen: reference.samplesPerEpoch + g).position, g)
        }
    }

    func testBadBatchSettingsAreErrors() {
        XCTAssertThrowsError(try EpochSchedule(sampleCount: 100, globalBatch: 10, microBatch: 2, ranks: 3, seed: 0)) { e in
            XCTAssertEqual("\(e)", "train.global_batch: 10 is not divisible by the 3 ranks")
        }
        XCTAssertThrowsError(try EpochSchedule(sampleCount: 5, globalBatch: 8, microBatch: 2, ranks: 1, seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("larger than the 5 training samples"), "\(e)")
        }
    }

    /// Every grid point is in the interior of at least one tile, and interiors
    /// stay inside the grid (regional) or wrap (global).
    func testTilesCoverEveryGridPoint() throws {
        for (h, w, th, tw, halo, stride, global) in [
            (33, 36, 16, 16, 2, nil, false), (33, 36, 10, 7, 1, [3, 4], false), (33, 36, 33, 36, 0, nil, false),
            (20, 36, 9, 9, 2, nil, true), (5, 12, 5, 12, 2, nil, true),
        ] as [(Int, Int, Int, Int, Int, [Int]?, Bool)] {
            var c = DataConfig()
            c.tileHeight = th; c.tileWidth = tw; c.halo = halo; c.tileStride = stride
            let lon = (0 ..< w).map { global ? Double($0) * 360 / Double(w) : Double($0) }
            let grid = Grid(height: h, width: w, rowDimension: "lat", columnDimension: "lon", latitudes: nil, longitudes: lon)
            XCTAssertEqual(grid.isGlobal, global)
            let t = try Tiling(config: c, grid: grid)
            var covered = [Int](repeating: 0, count: h * w)
            for i in 0 ..< t.count {
                let (top, left) = t.corner(i)
                for y in halo ..< th - halo {
                    let gy = top + y
                    XCTAssertTrue(gy >= 0 && gy < h, "interior row outside the grid")
                    for x in halo ..< tw - halo {
                        guard let gx = t.sourceColumn(left, x) else { XCTFail("interior column outside the grid"); continue }
                        covered[gy * w + gx] += 1
                    }
                }
            }
            XCTAssertFalse(covered.contains(0), "uncovered point for \(h)x\(w) tile \(th)x\(tw) halo \(halo)")
        }
    }

    func testWindowsStayInsideTheirRanges() throws {
        var c = DataConfig()
        c.tileHeight = 4; c.tileWidth = 4
        let grid = Grid(height: 8, width: 4, rowDimension: "y", columnDimension: "x", latitudes: nil, longitudes: nil)
        let t = try Tiling(config: c, grid: grid)
        let s = SampleSpace(frames: [0 ..< 10, 14 ..< 20], window: 4, stride: 3, tiling: t)
        XCTAssertEqual(s.windowStarts, [0, 3, 6, 14])
        XCTAssertEqual(s.count, 8)
        XCTAssertEqual(s.sample(5), Sample(id: 5, windowStart: 6, tile: 1, top: 4, left: 0))
    }
}
