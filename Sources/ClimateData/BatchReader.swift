import Foundation
import Model

/// Reads the samples of a `SampleSpace` into `Batch<Float>`: exactly the
/// tile (with halo) and window each sample needs, by hyperslab reads, CF
/// decoded, normalized, with mask, latitude weights and day of year.
///
/// One reader is used by one thread at a time (it owns a scratch buffer); a
/// `BatchStream` gives it to its prefetch thread.
public final class BatchReader: @unchecked Sendable {
    public let dataset: ClimateDataset
    public let normalization: Normalization
    public let space: SampleSpace
    private var scratch: [Double]

    public init(dataset: ClimateDataset, normalization: Normalization, space: SampleSpace) throws {
        guard normalization.channels == dataset.channelNames else {
            throw DataError("normalization channels [\(normalization.channels.joined(separator: ", "))] do not match the data's [\(dataset.channelNames.joined(separator: ", "))]")
        }
        self.dataset = dataset
        self.normalization = normalization
        self.space = space
        scratch = [Double](repeating: 0, count: space.window * space.tiling.height * space.tiling.width)
    }

    /// Bytes of decoded values one sample reads (for throughput reports).
    public var bytesPerSample: Int { space.window * space.tiling.height * space.tiling.width * dataset.channels.count * 4 }

    /// Reads the samples `ids` (of `space`) as one micro-batch.
    public func read(_ ids: [Int]) throws -> Batch<Float> {
        let t = space.tiling
        var batch = Batch<Float>(samples: ids.count, steps: space.window, channels: dataset.channels.count, height: t.height, width: t.width)
        for (b, id) in ids.enumerated() {
            guard id >= 0 && id < space.count else {
                throw DataError("sample id \(id) is outside 0..<\(space.count)", atRunTime: true)
            }
            try fill(&batch, b, space.sample(id))
        }
        return batch
    }

    private func fill(_ batch: inout Batch<Float>, _ b: Int, _ s: Sample) throws {
        let t = space.tiling, g = dataset.grid
        let T = space.window, H = t.height, W = t.width
        batch.sampleIDs[b] = s.id
        for k in 0 ..< T { batch.dayOfYear[b * T + k] = dataset.time.dayOfYear(s.windowStart + k) }
        // Rows inside the grid (latitude never wraps).
        let rowLo = max(0, s.top), rowHi = min(g.height, s.top + H)
        for y in 0 ..< H {
            let gy = s.top + y
            batch.latitudeWeights[b * H + y] = gy >= 0 && gy < g.height ? Float(g.latitudeWeights[gy]) : 0
        }
        guard rowLo < rowHi else { return }
        // Columns as runs of consecutive grid columns (two runs when a tile crosses the date line).
        var runs: [(x: Int, column: Int, count: Int)] = []
        for x in 0 ..< W {
            guard let c = t.sourceColumn(s.left, x) else { continue }
            if let last = runs.last, last.x + last.count == x, last.column + last.count == c {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((x, c, 1))
            }
        }
        let frames = s.windowStart ..< s.windowStart + T
        let ny = rowHi - rowLo
        let V = batch.channels, B = batch.samples
        for v in 0 ..< dataset.channels.count {
            let mean = normalization.mean[v], inv = 1 / normalization.std[v]
            for run in runs {
                try scratch.withUnsafeMutableBufferPointer { buf in
                    try dataset.read(channel: v, frames: frames, rows: rowLo ..< rowHi, columns: run.column ..< run.column + run.count, into: buf.baseAddress!)
                }
                scratch.withUnsafeBufferPointer { src in
                    batch.inputs.withUnsafeMutableBufferPointer { inp in
                        batch.mask.withUnsafeMutableBufferPointer { msk in
                            // The run's columns inside the tile's interior (the loss mask's columns), relative to the run.
                            let maskLo = max(t.halo - run.x, 0), maskHi = min(W - t.halo - run.x, run.count)
                            for k in 0 ..< T {
                                for yy in 0 ..< ny {
                                    let y = rowLo - s.top + yy
                                    let dst = (((k * V + v) * B + b) * H + y) * W + run.x
                                    // Row pointers: the loops then vectorize (no index overflow checks).
                                    let from = src.baseAddress! + (k * ny + yy) * run.count
                                    let to = inp.baseAddress! + dst, toMask = msk.baseAddress! + dst
                                    // missing: input 0 (the batch starts zeroed), mask 0
                                    for i in 0 ..< run.count {
                                        let value = from[i]
                                        to[i] = value.isNaN ? 0 : Float((value - mean) * inv)
                                    }
                                    if y >= t.halo && y < H - t.halo && maskLo < maskHi {
                                        for i in maskLo ..< maskHi { toMask[i] = from[i].isNaN ? 0 : 1 }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A sequence of micro-batches read ahead on a background thread.
///
/// `ids(k)` gives the sample ids of batch k (k = 0..<count). With prefetch on,
/// a thread reads at most `depth` batches ahead of the caller (so memory does
/// not grow with the dataset); a read error is handed to the caller by `next()`
/// and ends the stream. `stop()` (or deinit) sets the stop flag and joins.
/// With prefetch off, `next()` reads on the caller's thread.
public final class BatchStream: @unchecked Sendable {
    private let reader: BatchReader
    private let count: Int
    private let ids: @Sendable (Int) -> [Int]
    private let prefetch: Bool
    private let depth: Int
    private let cond = NSCondition()
    private var queue: [Result<Batch<Float>, Error>] = []
    private var stopFlag = false
    private var producerDone = false
    private var consumed = 0
    private var thread: Thread? = nil
    private var finished = false
    /// Set by the prefetch thread as its very last action.
    private var threadExited = false

    public init(reader: BatchReader, count: Int, prefetch: Bool, depth: Int = 2, ids: @escaping @Sendable (Int) -> [Int]) {
        self.reader = reader
        self.count = count
        self.ids = ids
        self.prefetch = prefetch
        self.depth = max(1, depth)
        if prefetch && count > 0 {
            let t = Thread { [unowned self] in self.produce() }
            t.name = "faconvlstm-prefetch"
            thread = t
            t.start()
        } else {
            producerDone = true
        }
    }

    deinit { stop() }

    private func produce() {
        var k = 0
        while k < count {
            cond.lock()
            while queue.count >= depth && !stopFlag { cond.wait() }
            let stopping = stopFlag
            cond.unlock()
            if stopping { break }
            let r = Result { try reader.read(ids(k)) }
            cond.lock()
            queue.append(r)
            cond.broadcast()
            cond.unlock()
            if case .failure = r { break }
            k += 1
        }
        cond.lock()
        producerDone = true
        threadExited = true
        cond.broadcast()
        cond.unlock()
    }

    /// The next batch, nil after the last; rethrows a read error.
    public func next() throws -> Batch<Float>? {
        if finished { return nil }
        if !prefetch {
            guard consumed < count else { finished = true; return nil }
            defer { consumed += 1 }
            do { return try reader.read(ids(consumed)) } catch { finished = true; throw error }
        }
        cond.lock()
        while queue.isEmpty && !producerDone { cond.wait() }
        if queue.isEmpty {
            cond.unlock()
            finished = true
            return nil
        }
        let r = queue.removeFirst()
        cond.broadcast()
        cond.unlock()
        switch r {
        case .success(let b): return b
        case .failure(let e):
            finished = true
            stop()
            throw e
        }
    }

    /// Stops the prefetch thread and waits for it to leave (a read in progress finishes first).
    public func stop() {
        cond.lock()
        stopFlag = true
        cond.broadcast()
        while thread != nil && !threadExited { cond.wait() }
        queue.removeAll()
        cond.unlock()
        thread = nil
    }

    /// Batches currently read ahead (for tests of the bound).
    public var bufferedCount: Int {
        cond.lock()
        defer { cond.unlock() }
        return queue.count
    }
}
