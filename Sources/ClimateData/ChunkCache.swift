import NetCDF

extension ClimateDataset {
    /// Bytes the HDF5 chunk caches of the dataset's NetCDF-4 variables hold
    /// once every frame of `frames` has been read in full (normalization and
    /// the climatology read every training frame; validation its frames).
    /// HDF5 keeps each variable's decompressed chunks, up to its cache size
    /// (netCDF-C's default: 16 MiB and 4133 slots per variable), until the file
    /// is closed, so this memory stays for the whole run. Classic-format files
    /// and contiguous variables have no chunk cache (0). Metadata only: no
    /// data value is read.
    public func chunkCacheBytes(frames: [Range<Int>]) throws -> Int {
        var total = 0
        for (vi, segs) in segments.enumerated() {
            // Levels of this variable that some channel reads.
            let levels = Set(channels.indices.filter { channelVariable[$0] == vi }.compactMap { channels[$0].levelIndex })
            for seg in segs {
                let c = try ClimateDataset.wrap(seg.path, seg.variable.name) { try seg.variable.chunking() }
                guard let shape = c.chunkShape, shape.count == seg.variable.rank, let valueBytes = seg.variable.type.byteSize else { continue }
                let chunkBytes = shape.reduce(valueBytes, *)
                // HDF5 does not cache a chunk larger than the cache.
                guard chunkBytes <= c.cacheBytes, chunkBytes > 0 else { continue }
                // Chunks along time that hold a frame read from this file.
                var timeChunks = Set<Int>()
                for r in frames {
                    let lo = max(r.lowerBound, seg.firstFrame) - seg.firstFrame
                    let hi = min(r.upperBound, seg.firstFrame + seg.count) - seg.firstFrame
                    if lo < hi { for k in lo / shape[0] ... (hi - 1) / shape[0] { timeChunks.insert(k) } }
                }
                let g = seg.grid
                let rank = shape.count
                var chunks = timeChunks.count
                    * ((g.height + shape[rank - 2] - 1) / shape[rank - 2])
                    * ((g.width + shape[rank - 1] - 1) / shape[rank - 1])
                if seg.isFourD { chunks *= Set(levels.map { $0 / shape[1] }).count }
                total += min(c.cacheBytes, c.cacheSlots * chunkBytes, chunks * chunkBytes)
            }
        }
        return total
    }
}
