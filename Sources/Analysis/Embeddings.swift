import ClimateData
import Foundation
import Model
import NetCDF
import Training

/// The per-time-step embeddings z_t of a time range (`faconvlstm embed`):
/// one `[de]` vector per output frame and tile.
public struct Embeddings: Sendable {
    public let plan: WindowPlan
    public let tilesY: Int
    public let tilesX: Int
    public let dim: Int
    /// `[time, tileY, tileX, de]`, time over `plan.outputFrames`.
    public var values: [Float]
    public var frameCount: Int { plan.outputFrames.count }

    /// Collective: every rank computes its share of the (window, tile) items;
    /// the shares are summed into every rank (each value comes from exactly
    /// one rank, so the sum is exact).
    public static func compute(_ session: AnalysisSession) throws -> Embeddings {
        let plan = WindowPlan.embeddings(frames: session.frames, window: session.window, objective: session.model.objective)
        let tiling = session.tiling
        let de = session.model.embedDim, tiles = tiling.count
        var out = Embeddings(plan: plan, tilesY: tiling.rowOrigins.count, tilesX: tiling.columnOrigins.count, dim: de,
                             values: [Float](repeating: 0, count: plan.outputFrames.count * tiles * de))
        let runner = try AnalysisSession.agreed(session.comm) { try WindowRunner(session: session, plan: plan) }
        let first = plan.outputFrames.lowerBound
        try AnalysisSession.agreed(session.comm) {
            try runner.run(windows: 0 ..< plan.windowCount) { batch, b, sample in
                let z = runner.net.embeddings, B = batch.samples
                let w = sample.windowStart - plan.frames.lowerBound
                for f in plan.outputFrames(ofWindow: w) {
                    let step = f - sample.windowStart
                    let src = (step * B + b) * de, dst = ((f - first) * tiles + sample.tile) * de
                    for i in 0 ..< de { out.values[dst + i] = z[src + i] }
                }
            }
        }
        session.comm.allReduce(&out.values, op: .sum)
        // -0 + 0 = +0: the same bits whether or not a sum happened.
        for i in out.values.indices { out.values[i] += 0 }
        return out
    }

    /// Writes the CF file (docs/outputs.md, "embed").
    public func write(to target: OutputTarget, session: AnalysisSession) throws {
        let tiling = session.tiling
        let time = TimeCoordinate(session.data, frames: plan.outputFrames)
        let tiled = tiling.count > 1
        let centers = TileCenters(tiling: tiling, grid: session.data.grid)
        try target.write { file in
            let root = file.root
            try OutputAttributes.write(root, title: "FAConvLSTM embeddings z_t", command: OutputAttributes.commandLine, session: session, extra: [
                ("window", String(plan.window)),
                ("window_position", String(plan.position)),
                ("embedding_position", "z_t is step \(plan.position) (0-based) of the \(plan.window)-frame window holding frame t there (\(session.model.objective == .forecast ? "the last step: causal attention sees frames t-\(plan.window - 1) ... t" : "the middle step: the attention sees both sides")); near the ends of the range the first/last window is used"),
                ("tiles", "\(tilesY) x \(tilesX) tiles of \(tiling.height) x \(tiling.width) points (halo \(tiling.halo))"),
            ])
            let tv = try time.define(in: root, name: "time")
            try root.defineDimension("embedding", length: dim)
            let ev = try root.defineVariable("embedding", type: .int, dimensions: ["embedding"])
            try ev.setAttribute("long_name", .text("embedding component"))
            var zDims = ["time", "embedding"]
            var tileVars: [(NetCDFVariable, [Double])] = []
            var tileInts: [(NetCDFVariable, [Int32])] = []
            if tiled {
                try root.defineDimension("tile_y", length: tilesY)
                try root.defineDimension("tile_x", length: tilesX)
                zDims = ["time", "tile_y", "tile_x", "embedding"]
                let r = try root.defineVariable("tile_first_row", type: .int, dimensions: ["tile_y"])
                try r.setAttribute("long_name", .text("first grid row (0-based) of the tile's interior"))
                let c = try root.defineVariable("tile_first_column", type: .int, dimensions: ["tile_x"])
                try c.setAttribute("long_name", .text("first grid column (0-based) of the tile's interior"))
                tileInts = [(r, tiling.rowOrigins.map { Int32($0) }), (c, tiling.columnOrigins.map { Int32($0) })]
                if let lat = centers.latitudes {
                    let v = try root.defineVariable("tile_lat", type: .double, dimensions: ["tile_y"])
                    try v.setAttribute("standard_name", .text("latitude"))
                    try v.setAttribute("units", .text("degrees_north"))
                    try v.setAttribute("long_name", .text("latitude of the tile interior's center"))
                    tileVars.append((v, lat))
                }
                if let lon = centers.longitudes {
                    let v = try root.defineVariable("tile_lon", type: .double, dimensions: ["tile_x"])
                    try v.setAttribute("standard_name", .text("longitude"))
                    try v.setAttribute("units", .text("degrees_east"))
                    try v.setAttribute("long_name", .text("longitude of the tile interior's center"))
                    tileVars.append((v, lon))
                }
            }
            let zv = try root.defineVariable("z", type: .float, dimensions: zDims)
            try zv.setAttribute("long_name", .text("FAConvLSTM subspace embedding z_t (MODEL.md head, step 3)"))
            try zv.setAttribute("units", .text("1"))
            if tiled {
                let coords = ["tile_first_row", "tile_first_column"] + tileVars.map(\.0.name)
                try zv.setAttribute("coordinates", .text(coords.joined(separator: " ")))
            }
            let fv = try root.defineVariable("frame", type: .int, dimensions: ["time"])
            try fv.setAttribute("long_name", .text("0-based frame index in the dataset"))
            let sv = try root.defineVariable("window_start", type: .int, dimensions: ["time"])
            try sv.setAttribute("long_name", .text("dataset frame (0-based) where the window z_t is taken from starts"))

            try time.write(tv)
            try ev.writeAll((0 ..< dim).map { Int32($0) })
            for (v, a) in tileInts { try v.writeAll(a) }
            for (v, a) in tileVars { try v.writeAll(a) }
            try zv.writeAll(values)
            try fv.writeAll(plan.outputFrames.map { Int32($0) })
            try sv.writeAll(plan.outputFrames.map { Int32(plan.windowStart(plan.windowIndex(ofFrame: $0))) })
        }
    }
}

/// Latitude and longitude of each tile row's and column's interior center
/// (interpolated between grid rows/columns; across the date line on a global grid).
struct TileCenters {
    let latitudes: [Double]?
    let longitudes: [Double]?

    init(tiling t: Tiling, grid g: Grid) {
        func at(_ coords: [Double], _ p: Double, wraps: Bool) -> Double {
            let n = coords.count
            let i = Int(p.rounded(.down)), frac = p - Double(i)
            let a = coords[((i % n) + n) % n]
            if frac == 0 { return a }
            var b = coords[(((i + 1) % n) + n) % n]
            if wraps && i + 1 >= n { b += 360 * (coords[n - 1] >= coords[0] ? 1 : -1) }
            let v = a + frac * (b - a)
            return wraps && v >= 360 ? v - 360 : v
        }
        latitudes = g.latitudes.map { lat in t.rowOrigins.map { at(lat, Double($0) + Double(t.interiorHeight - 1) / 2, wraps: false) } }
        longitudes = g.longitudes.map { lon in
            t.columnOrigins.map { at(lon, Double($0) + Double(t.interiorWidth - 1) / 2, wraps: t.wrapsX) }
        }
    }
}

/// An embeddings file as `cluster` reads it.
public struct EmbeddingFile: Sendable {
    public let time: TimeCoordinate
    /// 0-based dataset frames, when present.
    public let frames: [Int32]?
    /// `[time, features]`: the tile embeddings of a step concatenated (tile row-major, then component).
    public let features: [Double]
    public let featureCount: Int
    public let tiles: Int
    public let dim: Int
    public var count: Int { time.values.count }

    public static func read(_ path: String, option: String = "--embeddings") throws -> EmbeddingFile {
        let file: NetCDFFile
        do { file = try NetCDFFile.open(path) } catch {
            throw RunError("\(option) \(path): cannot open: \(error)", exitCode: .badInput)
        }
        defer { try? file.close() }
        do {
            guard let z = try file.root.findVariable("z") else {
                throw RunError("\(option) \(path): no variable 'z' (not written by faconvlstm embed)", exitCode: .badInput)
            }
            guard let tv = try file.root.findVariable("time"), z.dimensionNames.first == "time", z.dimensionNames.last == "embedding" else {
                throw RunError("\(option) \(path): variable 'z' is not (time, ..., embedding)", exitCode: .badInput)
            }
            let shape = try z.shape()
            let values = try z.readAll(Double.self)
            let n = shape[0], dim = shape[shape.count - 1]
            let tiles = shape.dropFirst().dropLast().reduce(1, *)
            let frames = try file.root.findVariable("frame").map { try $0.readAll(Int32.self) }
            return EmbeddingFile(time: try TimeCoordinate.read(tv), frames: frames, features: values,
                                 featureCount: values.count / max(1, n), tiles: tiles, dim: dim)
        } catch let e as RunError { throw e } catch {
            throw RunError("\(option) \(path): cannot read: \(error)", exitCode: .badInput)
        }
    }
}
