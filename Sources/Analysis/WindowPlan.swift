import ClimateData
import Model

/// Which window, and which step of it, every output frame is taken from.
///
/// Windows of T frames start at every frame `a ... b - T` of the range
/// `[a, b)`. Output frame f comes from the window that holds it at step
/// `position` (0-based), i.e. the window starting at `f - position`; near the
/// ends of the range that window would stick out, so the first (last) window
/// is used instead and f sits earlier (later) in it. So every output frame
/// comes from exactly one window, and each window gives a contiguous run of
/// output frames (usually one).
///
/// Positions (docs/outputs.md):
/// - `forecast` (causal temporal attention, the recurrence only looks back):
///   the last step, T - 1: z_t and the prediction of frame t see the T - 1
///   frames before t, the most context a window gives, and nothing after t.
/// - `reconstruct` (the temporal attention looks both ways): the middle step,
///   T / 2: frames on both sides inform z_t, and the recurrent state has
///   still seen T / 2 frames of history.
public struct WindowPlan: Equatable, Sendable {
    /// The time range [a, b).
    public let frames: Range<Int>
    /// Frames per window (T).
    public let window: Int
    /// The step of its window an output frame is taken from (0-based).
    public let position: Int
    /// The frames that get an output: the whole range, or (forecast
    /// predictions) the range without its first frame, which nothing predicts.
    public let outputFrames: Range<Int>

    public init(frames: Range<Int>, window: Int, position: Int, outputFrames: Range<Int>) {
        precondition(frames.count >= window && window >= 1 && (0 ..< window).contains(position))
        precondition(outputFrames.lowerBound >= frames.lowerBound && outputFrames.upperBound <= frames.upperBound)
        self.frames = frames
        self.window = window
        self.position = position
        self.outputFrames = outputFrames
    }

    /// The documented step for embeddings (and reconstructions) of a model with this objective.
    public static func embeddingPosition(_ objective: ModelConfig.Objective, window: Int) -> Int {
        objective == .forecast ? window - 1 : window / 2
    }

    /// The plan of `embed`: every frame of the range gets its z_t.
    public static func embeddings(frames: Range<Int>, window: Int, objective: ModelConfig.Objective) -> WindowPlan {
        WindowPlan(frames: frames, window: window, position: embeddingPosition(objective, window: window), outputFrames: frames)
    }

    /// The plan of `predict` and `evaluate`: reconstructions of every frame at
    /// the middle step; forecasts of frames a+1 ..< b, frame f predicted at
    /// the window's step T - 2 from the frames up to f - 1 (f sits at step T - 1).
    public static func predictions(frames: Range<Int>, window: Int, objective: ModelConfig.Objective) -> WindowPlan {
        switch objective {
        case .reconstruct:
            return WindowPlan(frames: frames, window: window, position: window / 2, outputFrames: frames)
        case .forecast:
            return WindowPlan(frames: frames, window: window, position: window - 1, outputFrames: frames.lowerBound + 1 ..< frames.upperBound)
        }
    }

    /// Windows: one per start frame a ... b - T.
    public var windowCount: Int { frames.count - window + 1 }

    public func windowStart(_ w: Int) -> Int { frames.lowerBound + w }

    /// The window (index) output frame `f` is taken from.
    public func windowIndex(ofFrame f: Int) -> Int {
        min(max(f - position, frames.lowerBound), frames.upperBound - window) - frames.lowerBound
    }

    /// The output frames window `w` gives (contiguous; empty for none).
    public func outputFrames(ofWindow w: Int) -> Range<Int> {
        let s = windowStart(w)
        let lo = max(w == 0 ? outputFrames.lowerBound : s + position, outputFrames.lowerBound)
        let hi = min(w == windowCount - 1 ? outputFrames.upperBound : s + position + 1, outputFrames.upperBound)
        return lo ..< max(lo, hi)
    }
}

/// Which tile each grid point is taken from when tiles overlap (stitching).
///
/// A point can lie in the interior of several tiles: the last row/column of
/// tiles is shifted inward to end at the grid's edge, and a `tile_stride`
/// smaller than the interior overlaps them all. Each point is taken from the
/// tile whose interior center is nearest to it (rows and columns separately;
/// on a tie the earlier tile), i.e. from the tile that gives it the most
/// context on both sides. Halo cells are never used.
public struct TileOwnership: Equatable, Sendable {
    public let tiling: Tiling
    /// For each grid row, the tile row index that owns it.
    public let rowOwner: [Int]
    /// For each grid column, the tile column index that owns it.
    public let columnOwner: [Int]

    public init(_ t: Tiling) {
        tiling = t
        let ih = t.interiorHeight, iw = t.interiorWidth
        rowOwner = (0 ..< t.gridHeight).map { y in
            TileOwnership.nearest(y, origins: t.rowOrigins, interior: ih, extent: t.gridHeight, wraps: false)
        }
        columnOwner = (0 ..< t.gridWidth).map { x in
            TileOwnership.nearest(x, origins: t.columnOrigins, interior: iw, extent: t.gridWidth, wraps: t.wrapsX)
        }
    }

    static func nearest(_ p: Int, origins: [Int], interior: Int, extent: Int, wraps: Bool) -> Int {
        var best = -1
        var bestDistance = Double.infinity
        for (i, o) in origins.enumerated() {
            var offset = p - o
            if wraps { offset = ((offset % extent) + extent) % extent }
            guard offset >= 0 && offset < interior else { continue }
            let d = abs(Double(offset) - Double(interior - 1) / 2)
            if d < bestDistance { best = i; bestDistance = d }
        }
        precondition(best >= 0, "grid point \(p) is in no tile's interior")
        return best
    }

    /// The points tile `k` owns: tile-local rows and columns with their grid row and column.
    public func ownedPoints(tile k: Int) -> (rows: [(local: Int, grid: Int)], columns: [(local: Int, grid: Int)]) {
        let nx = tiling.columnOrigins.count
        let i = k / nx, j = k % nx
        let corner = tiling.corner(k)
        var rows: [(Int, Int)] = []
        for y in tiling.halo ..< tiling.height - tiling.halo {
            let gy = corner.row + y
            if gy >= 0 && gy < tiling.gridHeight && rowOwner[gy] == i { rows.append((y, gy)) }
        }
        var columns: [(Int, Int)] = []
        for x in tiling.halo ..< tiling.width - tiling.halo {
            if let gx = tiling.sourceColumn(corner.column, x), columnOwner[gx] == j { columns.append((x, gx)) }
        }
        return (rows, columns)
    }

    /// The tile (index) that owns grid point (row, column).
    public func owner(row: Int, column: Int) -> Int { rowOwner[row] * tiling.columnOrigins.count + columnOwner[column] }
}
