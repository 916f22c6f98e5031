import Foundation
import Kernels

/// How tiles cover the grid.
///
/// A tile is `height x width` points fed to the network; its outer `halo`
/// rows/columns are context only (mask 0), the rest is the interior. Interior
/// origins step by `stride` from 0; the last row (column) of tiles is shifted
/// inward so its interior ends at the grid's edge, so every grid point is in
/// some interior. Halo cells outside the grid are padding (input 0, mask 0).
/// On a global grid columns wrap across the date line instead: interiors step
/// round the globe and halos read the columns on the other side.
public struct Tiling: Equatable, Sendable {
    public let height: Int, width: Int, halo: Int
    public let strideY: Int, strideX: Int
    public let gridHeight: Int, gridWidth: Int
    public let wrapsX: Bool
    /// Interior top-left corners of the tiles, row-major (grid coordinates).
    public let rowOrigins: [Int]
    public let columnOrigins: [Int]

    public var interiorHeight: Int { height - 2 * halo }
    public var interiorWidth: Int { width - 2 * halo }
    public var count: Int { rowOrigins.count * columnOrigins.count }

    public init(config: DataConfig, grid: Grid) throws {
        height = config.tileHeight ?? grid.height + 2 * config.halo
        width = config.tileWidth ?? grid.width + 2 * config.halo
        halo = config.halo
        gridHeight = grid.height
        gridWidth = grid.width
        wrapsX = grid.isGlobal
        let ih = height - 2 * halo, iw = width - 2 * halo
        guard ih >= 1, iw >= 1 else { throw DataError("data.halo: \(halo) leaves no interior in a \(height) x \(width) tile") }
        if ih > grid.height {
            throw DataError("data.tile_height: tile interior of \(ih) rows (tile_height \(height) - 2 * halo \(halo)) is larger than the grid's \(grid.height) rows")
        }
        if iw > grid.width {
            throw DataError("data.tile_width: tile interior of \(iw) columns (tile_width \(width) - 2 * halo \(halo)) is larger than the grid's \(grid.width) columns")
        }
        strideY = config.tileStride?[0] ?? ih
        strideX = config.tileStride?[1] ?? iw
        if strideY > ih || strideX > iw {
            throw DataError("data.tile_stride: [\(strideY), \(strideX)] is larger than the tile interior \(ih) x \(iw); some points would never be a target")
        }
        rowOrigins = Tiling.origins(extent: grid.height, interior: ih, stride: strideY, wraps: false)
        columnOrigins = Tiling.origins(extent: grid.width, interior: iw, stride: strideX, wraps: grid.isGlobal)
    }

    static func origins(extent: Int, interior: Int, stride: Int, wraps: Bool) -> [Int] {
        if wraps { return Array(Swift.stride(from: 0, to: extent, by: stride)) }
        var o = Array(Swift.stride(from: 0, through: extent - interior, by: stride))
        if o.last! + interior < extent { o.append(extent - interior) }
        return o
    }

    /// Top-left corner of tile `i` including its halo (may lie outside the grid).
    public func corner(_ i: Int) -> (row: Int, column: Int) {
        (rowOrigins[i / columnOrigins.count] - halo, columnOrigins[i % columnOrigins.count] - halo)
    }

    /// Grid column of tile column `x` for a tile whose corner column is `left`:
    /// wrapped on a global grid, nil outside a regional grid.
    @inline(__always)
    public func sourceColumn(_ left: Int, _ x: Int) -> Int? {
        let c = left + x
        if wrapsX { return ((c % gridWidth) + gridWidth) % gridWidth }
        return c >= 0 && c < gridWidth ? c : nil
    }
}

/// One sample: a window of frames and a tile.
public struct Sample: Equatable, Sendable {
    public let id: Int
    /// First dataset frame of the window.
    public let windowStart: Int
    public let tile: Int
    /// Tile corner including the halo (may be outside the grid).
    public let top: Int
    public let left: Int

    public init(id: Int, windowStart: Int, tile: Int, top: Int, left: Int) {
        self.id = id
        self.windowStart = windowStart
        self.tile = tile
        self.top = top
        self.left = left
    }
}

/// All samples of a split, numbered 0..<count in canonical order: window
/// start (in time order) major, tile (row-major) minor.
public struct SampleSpace: Equatable, Sendable {
    public let window: Int
    public let windowStarts: [Int]
    public let tiling: Tiling

    public var count: Int { windowStarts.count * tiling.count }

    /// Windows of `window` frames stepping by `stride` inside each run of frames.
    public init(frames: [Range<Int>], window: Int, stride: Int, tiling: Tiling) {
        self.window = window
        self.tiling = tiling
        windowStarts = frames.flatMap { r in Array(Swift.stride(from: r.lowerBound, through: r.upperBound - window, by: stride)) }
    }

    public func sample(_ id: Int) -> Sample {
        precondition(id >= 0 && id < count, "sample \(id) outside 0..<\(count)")
        let w = id / tiling.count, t = id % tiling.count
        let c = tiling.corner(t)
        return Sample(id: id, windowStart: windowStarts[w], tile: t, top: c.row, left: c.column)
    }

    /// The training samples of a dataset; an error when no window fits.
    public static func training(_ data: ClimateDataset) throws -> SampleSpace {
        let s = SampleSpace(frames: data.trainingFrames, window: data.config.window, stride: data.config.windowStride,
                            tiling: try Tiling(config: data.config, grid: data.grid))
        if s.windowStarts.isEmpty {
            let longest = data.trainingFrames.map(\.count).max() ?? 0
            throw DataError("data.window: \(data.config.window) frames is longer than the training range (\(longest) consecutive frames)")
        }
        return s
    }

    /// The validation samples (windows inside the validation range); empty without one.
    public static func validation(_ data: ClimateDataset) throws -> SampleSpace {
        SampleSpace(frames: data.validationFrames, window: data.config.window, stride: data.config.windowStride,
                    tiling: try Tiling(config: data.config, grid: data.grid))
    }
}

/// Which global samples every optimizer step uses, and which of them each
/// rank reads (docs/design.md "Data parallelism"). Pure functions of
/// (sample count, seed, global batch): they never depend on the rank count
/// except for the slicing, so a run resumes on any number of ranks.
public struct EpochSchedule: Sendable {
    public let sampleCount: Int
    public let globalBatch: Int
    public let microBatch: Int
    public let ranks: Int
    public let seed: UInt64
    private let cache = PermutationCache()

    public init(sampleCount: Int, globalBatch: Int, microBatch: Int, ranks: Int, seed: UInt64) throws {
        guard globalBatch >= 1 else { throw DataError("train.global_batch: must be at least 1, got \(globalBatch)") }
        guard microBatch >= 1 else { throw DataError("train.micro_batch: must be at least 1, got \(microBatch)") }
        guard ranks >= 1 else { throw DataError("ranks: must be at least 1, got \(ranks)") }
        guard globalBatch % ranks == 0 else {
            throw DataError("train.global_batch: \(globalBatch) is not divisible by the \(ranks) ranks")
        }
        guard globalBatch <= sampleCount else {
            throw DataError("train.global_batch: \(globalBatch) is larger than the \(sampleCount) training samples per epoch")
        }
        self.sampleCount = sampleCount
        self.globalBatch = globalBatch
        self.microBatch = microBatch
        self.ranks = ranks
        self.seed = seed
    }

    /// floor(N / G): the tail of each epoch's permutation is dropped.
    public var stepsPerEpoch: Int { sampleCount / globalBatch }
    /// Samples used per epoch (stepsPerEpoch * G).
    public var samplesPerEpoch: Int { stepsPerEpoch * globalBatch }
    public var samplesPerRankPerStep: Int { globalBatch / ranks }

    /// Epoch and position within it of the global counter `samples_seen`.
    public func location(samplesSeen: Int) -> (epoch: Int, position: Int) {
        (samplesSeen / samplesPerEpoch, samplesSeen % samplesPerEpoch)
    }

    /// The epoch's order of sample ids: `seededPermutation(N, seed, epoch)`.
    public func order(epoch: Int) -> [Int] {
        cache.permutation(count: sampleCount, seed: seed, epoch: epoch)
    }

    /// The G global sample ids of optimizer step `step` (counted from 0 over all epochs).
    public func globalSamples(step: Int) -> [Int] {
        let (epoch, position) = location(samplesSeen: step * globalBatch)
        return Array(order(epoch: epoch)[position ..< position + globalBatch])
    }

    /// Rank r's contiguous slice [r*G/R, (r+1)*G/R) of the step's samples.
    public func rankSamples(step: Int, rank: Int) -> [Int] {
        let g = globalSamples(step: step)
        return Array(g[rank * globalBatch / ranks ..< (rank + 1) * globalBatch / ranks])
    }

    /// Rank r's samples of the step in micro-batches of at most `microBatch`.
    public func microBatches(step: Int, rank: Int) -> [[Int]] {
        let s = rankSamples(step: step, rank: rank)
        return Swift.stride(from: 0, to: s.count, by: microBatch).map { Array(s[$0 ..< min(s.count, $0 + microBatch)]) }
    }
}

/// Keeps the last epoch's permutation, so consecutive steps do not recompute it.
final class PermutationCache: @unchecked Sendable {
    private let lock = NSLock()
    private var key: (Int, UInt64, Int)? = nil
    private var value: [Int] = []

    func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        lock.lock()
        defer { lock.unlock() }
        if let k = key, k == (count, seed, epoch) { return value }
        value = seededPermutation(count: count, seed: seed, stream: UInt64(epoch))
        key = (count, seed, epoch)
        return value
    }
}
