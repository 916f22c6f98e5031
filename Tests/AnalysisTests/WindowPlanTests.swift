import Analysis
import ClimateData
import Model
import XCTest

/// Which window and step every output frame comes from, and which tile every grid point.
final class WindowPlanTests: XCTestCase {
    /// Every output frame comes from exactly one window, at the documented
    /// step except where the window would leave the range.
    func testEveryFrameFromOneWindow() {
        for (frames, window) in [(0 ..< 64, 4), (10 ..< 19, 8), (5 ..< 9, 4), (0 ..< 7, 1), (3 ..< 40, 5)] {
            for objective in [ModelConfig.Objective.forecast, .reconstruct] {
                for plan in [WindowPlan.embeddings(frames: frames, window: window, objective: objective),
                             WindowPlan.predictions(frames: frames, window: window, objective: objective)] {
                    var seen: [Int] = []
                    for w in 0 ..< plan.windowCount {
                        let start = plan.windowStart(w)
                        XCTAssertTrue(start >= frames.lowerBound && start + window <= frames.upperBound)
                        for f in plan.outputFrames(ofWindow: w) {
                            seen.append(f)
                            XCTAssertEqual(plan.windowIndex(ofFrame: f), w)
                            let step = f - start
                            XCTAssertTrue((0 ..< window).contains(step))
                            // Interior frames sit at the documented step.
                            if f - plan.position >= frames.lowerBound && f - plan.position + window <= frames.upperBound {
                                XCTAssertEqual(step, plan.position)
                            }
                        }
                    }
                    XCTAssertEqual(seen, Array(plan.outputFrames), "\(frames) T=\(window) \(objective)")
                }
            }
        }
        // Forecast predictions: the first frame has nothing before it; frame f sits at step T-1 (predicted at step T-2).
        let p = WindowPlan.predictions(frames: 0 ..< 64, window: 4, objective: .forecast)
        XCTAssertEqual(p.outputFrames, 1 ..< 64)
        XCTAssertEqual(p.position, 3)
        XCTAssertEqual(p.outputFrames(ofWindow: 0), 1 ..< 4)
        XCTAssertEqual(p.outputFrames(ofWindow: 5), 8 ..< 9)
        XCTAssertEqual(WindowPlan.embeddings(frames: 0 ..< 64, window: 8, objective: .reconstruct).position, 4)
    }

    /// Tile interiors overlap (edge tiles shifted inward, strides below the
    /// interior, a wrapped global grid); each grid point still has exactly one
    /// owner, the tile whose interior center is nearest.
    func testStitchingOwnsEveryPointOnce() throws {
        let regional = Grid(height: 33, width: 36, rowDimension: "lat", columnDimension: "lon",
                            latitudes: (0 ..< 33).map { 20 + 1.25 * Double($0) }, longitudes: (0 ..< 36).map { -140 + 2.5 * Double($0) })
        let global = Grid(height: 10, width: 24, rowDimension: "lat", columnDimension: "lon",
                          latitudes: (0 ..< 10).map { -45 + 10 * Double($0) }, longitudes: (0 ..< 24).map { 15 * Double($0) })
        for (grid, tile, halo, stride) in [(regional, 12, 1, nil), (regional, 16, 2, [5, 7]), (regional, 35, 1, nil),
                                           (global, 8, 1, nil), (global, 8, 2, [3, 3])] as [(Grid, Int, Int, [Int]?)] {
            var c = DataConfig()
            c.tileHeight = min(tile, grid.height + 2 * halo)
            c.tileWidth = tile
            c.halo = halo
            c.tileStride = stride
            let tiling = try Tiling(config: c, grid: grid)
            let own = TileOwnership(tiling)
            var count = [Int](repeating: 0, count: grid.height * grid.width)
            for k in 0 ..< tiling.count {
                let (rows, columns) = own.ownedPoints(tile: k)
                for (y, gy) in rows {
                    XCTAssertTrue(y >= halo && y < tiling.height - halo, "halo row used")
                    for (x, gx) in columns {
                        XCTAssertTrue(x >= halo && x < tiling.width - halo, "halo column used")
                        XCTAssertEqual(own.owner(row: gy, column: gx), k)
                        count[gy * grid.width + gx] += 1
                    }
                }
            }
            XCTAssertEqual(Set(count), [1], "tiles \(tile) halo \(halo) stride \(String(describing: stride)) global \(grid.isGlobal)")
        }
        // The storm grid with 12 x 12 tiles and halo 1: interiors of 10 rows start at 0, 10, 20, 23;
        // rows 23...29 lie in two interiors and go to the nearer center (24.5 or 27.5; row 26 is a tie: the earlier tile).
        var c = DataConfig()
        c.tileHeight = 12
        c.tileWidth = 12
        c.halo = 1
        let own = TileOwnership(try Tiling(config: c, grid: regional))
        XCTAssertEqual(own.tiling.rowOrigins, [0, 10, 20, 23])
        XCTAssertEqual(Array(own.rowOwner[20 ... 32]), [2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3])
    }
}
