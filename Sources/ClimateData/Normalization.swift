import Foundation

/// Per-channel mean and population standard deviation over the valid points
/// of the training frames (MODEL.md "Data normalization"). A checkpoint
/// carries it; resume, evaluation and embedding reuse it unchanged.
public struct Normalization: Codable, Equatable, Sendable {
    public var channels: [String]
    public var mean: [Double]
    public var std: [Double]
    /// Valid and total points per channel over the training frames (for reports).
    public var validCount: [Double]
    public var totalCount: [Double]

    public init(channels: [String], mean: [Double], std: [Double], validCount: [Double]? = nil, totalCount: [Double]? = nil) {
        self.channels = channels
        self.mean = mean
        self.std = std
        self.validCount = validCount ?? [Double](repeating: 0, count: channels.count)
        self.totalCount = totalCount ?? [Double](repeating: 0, count: channels.count)
    }

    public var missingFraction: [Double] {
        zip(validCount, totalCount).map { $1 > 0 ? 1 - $0 / $1 : 0 }
    }

    /// Computes the statistics with `ranks` processes sharing the frames.
    ///
    /// Exact across rank counts: each frame's (count, mean, M2) per channel is
    /// computed by exactly one rank and written into a block vector that is
    /// zero elsewhere; the all-reduce sum then reproduces every frame's values
    /// exactly (x + 0 = x), and every rank combines the frames in frame order
    /// (Chan et al.'s pairwise update). So 1, 2 or 3 ranks give bit-identical
    /// results. Every rank must call this (it makes the same collectives).
    public static func compute(_ data: ClimateDataset, rank: Int = 0, ranks: Int = 1,
                               allReduceSum: (inout [Double]) -> Void = { _ in }) throws -> Normalization {
        let frames = data.trainingFrames.flatMap { Array($0) }
        let nc = data.channels.count
        let plane = data.grid.height * data.grid.width
        var n = [Double](repeating: 0, count: nc), mean = n, m2 = n, total = n
        var buffer = [Double](repeating: 0, count: plane)
        let block = 256
        var firstError: DataError? = nil
        for blockStart in stride(from: 0, to: frames.count, by: block) {
            let blockFrames = Array(frames[blockStart ..< min(frames.count, blockStart + block)])
            // [frame in block][channel][count, mean, M2, failed]
            var partial = [Double](repeating: 0, count: blockFrames.count * nc * 4)
            for (k, f) in blockFrames.enumerated() where (blockStart + k) % ranks == rank && firstError == nil {
                for c in 0 ..< nc {
                    do {
                        try buffer.withUnsafeMutableBufferPointer { b in
                            try data.read(channel: c, frames: f ..< f + 1, rows: 0 ..< data.grid.height, columns: 0 ..< data.grid.width, into: b.baseAddress!)
                        }
                    } catch let e as DataError {
                        firstError = e
                        partial[(k * nc + c) * 4 + 3] = 1
                        continue
                    }
                    var cnt = 0.0, sum = 0.0
                    for x in buffer where !x.isNaN { cnt += 1; sum += x }
                    let mu = cnt > 0 ? sum / cnt : 0
                    var ss = 0.0
                    for x in buffer where !x.isNaN { ss += (x - mu) * (x - mu) }
                    partial[(k * nc + c) * 4] = cnt
                    partial[(k * nc + c) * 4 + 1] = mu
                    partial[(k * nc + c) * 4 + 2] = ss
                }
            }
            allReduceSum(&partial)
            if partial.enumerated().contains(where: { $0.offset % 4 == 3 && $0.element != 0 }) {
                // Every rank stops at the same block, so the collectives stay matched.
                throw firstError ?? DataError("normalization: another rank failed to read the training data", atRunTime: true)
            }
            for k in 0 ..< blockFrames.count {
                for c in 0 ..< nc {
                    let nb = partial[(k * nc + c) * 4], mb = partial[(k * nc + c) * 4 + 1], sb = partial[(k * nc + c) * 4 + 2]
                    total[c] += Double(plane)
                    guard nb > 0 else { continue }
                    let na = n[c], nab = na + nb, delta = mb - mean[c]
                    mean[c] += delta * (nb / nab)
                    m2[c] += sb + delta * delta * (na * nb / nab)
                    n[c] = nab
                }
            }
        }
        var std = [Double](repeating: 0, count: nc)
        for c in 0 ..< nc {
            let name = data.channels[c].name
            guard n[c] > 0 else {
                throw DataError("data.variables: channel '\(name)' has no valid value in the training range (all missing)")
            }
            std[c] = (m2[c] / n[c]).squareRoot()
            if std[c] <= 1e-6 * max(1, abs(mean[c])) {
                throw DataError("data.variables: channel '\(name)' is constant over the training range (mean \(mean[c]), std \(std[c])); remove it")
            }
        }
        return Normalization(channels: data.channelNames, mean: mean, std: std, validCount: n, totalCount: total)
    }

    /// What the cache file holds: the statistics and the dataset fingerprint.
    struct CacheFile: Codable {
        var fingerprint: String
        var normalization: Normalization
    }

    /// `<runDirectory>/normalization.json`: reused when its fingerprint matches
    /// the dataset's, else computed (all ranks) and written by rank 0. Every rank
    /// takes the same branch (decided by an all-reduce), so collectives match.
    public static func loadOrCompute(_ data: ClimateDataset, runDirectory: String?, rank: Int = 0, ranks: Int = 1,
                                     allReduceSum: (inout [Double]) -> Void = { _ in }) throws -> (Normalization, cached: Bool) {
        let path = runDirectory.map { "\($0)/normalization.json" }
        let fp = data.fingerprint
        var cached: Normalization? = nil
        if let p = path, let d = FileManager.default.contents(atPath: p), let c = try? JSONDecoder().decode(CacheFile.self, from: d),
           c.fingerprint == fp, c.normalization.channels == data.channelNames {
            cached = c.normalization
        }
        var misses = [cached == nil ? 1.0 : 0.0]
        allReduceSum(&misses)
        if misses[0] == 0, let c = cached { return (c, true) }
        let norm = try compute(data, rank: rank, ranks: ranks, allReduceSum: allReduceSum)
        if rank == 0, let p = path, let dir = runDirectory {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try enc.encode(CacheFile(fingerprint: fp, normalization: norm)).write(to: URL(fileURLWithPath: p + ".tmp"))
                _ = try? FileManager.default.removeItem(atPath: p)
                try FileManager.default.moveItem(atPath: p + ".tmp", toPath: p)
            } catch {
                throw DataError("\(p): cannot write the normalization cache: \(error.localizedDescription)", atRunTime: true)
            }
        }
        return (norm, false)
    }
}
