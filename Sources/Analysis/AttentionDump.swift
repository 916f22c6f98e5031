import ClimateData
import Foundation
import Model
import NetCDF
import Training

/// `attention`: the axial attention weights of one query position at one
/// time step: the row softmax over the query's tile row and the column
/// softmax over its tile column (MODEL.md cell, step 6).
///
/// The frame must sit at an attended step t (0-based, (t + 1) mod s == 0) of
/// some window inside the time range; of those steps the one nearest the
/// embedding position (`WindowPlan.embeddingPosition`) is used. The tile is
/// the one that owns the grid point (`TileOwnership`).
public struct AttentionDump: Sendable {
    public let frame: Int
    public let layer: Int
    public let row: Int
    public let column: Int
    public let windowStart: Int
    public let step: Int
    public let tile: Int
    public let top: Int
    public let left: Int
    /// Over the tile's columns x' (width values).
    public let rowWeights: [Double]
    /// Over the tile's rows y' (height values).
    public let columnWeights: [Double]
    /// Physical input of each channel over the tile at the frame `[V, H, W]`, NaN outside the grid or missing.
    public let inputs: [Double]

    /// Runs one window on one tile (one rank).
    public init(session s: AnalysisSession, frame: Int, layer: Int, row: Int, column: Int) throws {
        let m = s.model, grid = s.data.grid, T = s.window
        guard m.cell == .faconvlstm, m.attnStride > 0 else {
            throw RunError("the checkpoint's model has no axial attention (cell \(m.cell.rawValue), attn_stride \(m.attnStride))", exitCode: .badInput)
        }
        guard (0 ..< m.layers).contains(layer) else {
            throw RunError("--layer \(layer): the model has layers 0 ... \(m.layers - 1)", exitCode: .badInput)
        }
        guard (0 ..< grid.height).contains(row), (0 ..< grid.width).contains(column) else {
            throw RunError("--y \(row) --x \(column): outside the grid of \(grid.height) rows x \(grid.width) columns", exitCode: .badInput)
        }
        guard s.frames.contains(frame) else {
            throw RunError("--time: frame \(frame) (\(s.label(frame))) is outside the time range", exitCode: .badInput)
        }
        let attended = (0 ..< T).filter { ($0 + 1) % m.attnStride == 0 }
        let target = WindowPlan.embeddingPosition(m.objective, window: T)
        let fits = attended.filter { frame - $0 >= s.frames.lowerBound && frame - $0 + T <= s.frames.upperBound }
        guard let step = fits.min(by: { abs($0 - target) < abs($1 - target) || (abs($0 - target) == abs($1 - target) && $0 > $1) }) else {
            throw RunError("--time: frame \(frame) (\(s.label(frame))) is at no attended step of any \(T)-frame window of the time range (attention at steps \(attended.map(String.init).joined(separator: ", ")))",
                           exitCode: .badInput)
        }
        let ownership = TileOwnership(s.tiling)
        let tile = ownership.owner(row: row, column: column)
        let space = SampleSpace(frames: [s.frames], window: T, stride: 1, tiling: s.tiling)
        let windowIndex = frame - step - s.frames.lowerBound
        let reader = try BatchReader(dataset: s.data, normalization: s.normalization, space: space)
        let batch = try reader.read([windowIndex * s.tiling.count + tile])
        let net = s.makeNetwork(samples: 1)
        net.forward(batch)
        guard let weights = net.axialAttentionWeights(layer: layer, step: step) else {
            throw RunError("no attention weights at layer \(layer), step \(step)", exitCode: .failure)
        }
        let corner = s.tiling.corner(tile)
        let H = s.tiling.height, W = s.tiling.width
        let ly = row - corner.row
        guard let lx = (0 ..< W).first(where: { s.tiling.sourceColumn(corner.column, $0) == column && $0 >= s.tiling.halo && $0 < W - s.tiling.halo }) else {
            throw RunError("grid column \(column) is not in the interior of its tile", exitCode: .failure)
        }
        // Row softmax A[b, y, x, x'] and column softmax B[b, x, y, y'] (b = 0).
        rowWeights = (0 ..< W).map { Double(weights.row[(ly * W + lx) * W + $0]) }
        columnWeights = (0 ..< H).map { Double(weights.column[(lx * H + ly) * H + $0]) }
        var inputs = [Double](repeating: .nan, count: m.channels * H * W)
        for v in 0 ..< m.channels {
            for y in 0 ..< H {
                for x in 0 ..< W {
                    let i = batch.index(t: step, v: v, b: 0, y: y, x: x)
                    let gy = corner.row + y
                    guard gy >= 0, gy < grid.height, s.tiling.sourceColumn(corner.column, x) != nil else { continue }
                    // Halo cells have mask 0 even where valid: only interior cells can be told missing.
                    let inside = y >= s.tiling.halo && y < H - s.tiling.halo && x >= s.tiling.halo && x < W - s.tiling.halo
                    if inside && batch.mask[i] == 0 { continue }
                    inputs[(v * H + y) * W + x] = Double(batch.inputs[i]) * s.normalization.std[v] + s.normalization.mean[v]
                }
            }
        }
        self.inputs = inputs
        self.frame = frame
        self.layer = layer
        self.row = row
        self.column = column
        self.windowStart = frame - step
        self.step = step
        self.tile = tile
        top = corner.row
        left = corner.column
    }

    /// Writes the file (docs/outputs.md, "attention").
    public func write(to target: OutputTarget, session s: AnalysisSession) throws {
        let grid = s.data.grid, H = s.tiling.height, W = s.tiling.width
        let columns = (0 ..< W).map { s.tiling.sourceColumn(left, $0) }
        let rows = (0 ..< H).map { top + $0 }.map { $0 >= 0 && $0 < grid.height ? $0 : nil }
        let time = TimeCoordinate(s.data, frames: frame ..< frame + 1)
        try target.write { file in
            let root = file.root
            var extra: [(String, String)] = [
                ("frame", String(frame)), ("time_label", s.label(frame)), ("layer", String(layer)),
                ("query_row", String(row)), ("query_column", String(column)),
                ("window_start", String(windowStart)), ("window_step", String(step)), ("tile", String(tile)),
                ("definition", "row_weight(key_x): softmax over the query's tile row (A[y,x,x'] of MODEL.md); column_weight(key_y): softmax over its tile column (B[y,x,y']); each sums to 1"),
            ]
            if let lat = grid.latitudes { extra.append(("query_lat", String(lat[row]))) }
            if let lon = grid.longitudes { extra.append(("query_lon", String(lon[column]))) }
            try OutputAttributes.write(root, title: "FAConvLSTM axial attention weights", command: OutputAttributes.commandLine, session: s, extra: extra)
            let tv = try time.define(in: root, name: "time")
            try root.defineDimension("key_x", length: W)
            try root.defineDimension("key_y", length: H)
            let rw = try root.defineVariable("row_weight", type: .double, dimensions: ["key_x"])
            try rw.setAttribute("long_name", .text("row attention weight of the query on each column of its tile row"))
            let cw = try root.defineVariable("column_weight", type: .double, dimensions: ["key_y"])
            try cw.setAttribute("long_name", .text("column attention weight of the query on each row of its tile column"))
            let kc = try root.defineVariable("key_column", type: .int, dimensions: ["key_x"])
            try kc.setAttribute("long_name", .text("grid column (0-based) of the key; -1 for padding outside the grid"))
            let kr = try root.defineVariable("key_row", type: .int, dimensions: ["key_y"])
            try kr.setAttribute("long_name", .text("grid row (0-based) of the key; -1 for padding outside the grid"))
            var coordinate: [(NetCDFVariable, [Double])] = []
            if let lon = grid.longitudes {
                let v = try root.defineVariable("key_lon", type: .double, dimensions: ["key_x"])
                try v.setAttribute("units", .text("degrees_east"))
                try v.setAttribute("standard_name", .text("longitude"))
                try v.setAttribute("_FillValue", .doubles([.nan]))
                coordinate.append((v, columns.map { $0.map { lon[$0] } ?? .nan }))
            }
            if let lat = grid.latitudes {
                let v = try root.defineVariable("key_lat", type: .double, dimensions: ["key_y"])
                try v.setAttribute("units", .text("degrees_north"))
                try v.setAttribute("standard_name", .text("latitude"))
                try v.setAttribute("_FillValue", .doubles([.nan]))
                coordinate.append((v, rows.map { $0.map { lat[$0] } ?? .nan }))
            }
            var inputVars: [(NetCDFVariable, [Double])] = []
            for (v, c) in s.data.channels.enumerated() {
                let key = String(c.name.map { $0.isLetter || $0.isNumber ? $0 : "_" })
                let iv = try root.defineVariable("input_\(key)", type: .double, dimensions: ["key_y", "key_x"])
                try iv.setAttribute("long_name", .text("input \(c.name) over the tile at the frame"))
                if !c.units.isEmpty { try iv.setAttribute("units", .text(c.units)) }
                try iv.setAttribute("_FillValue", .doubles([.nan]))
                inputVars.append((iv, Array(inputs[v * H * W ..< (v + 1) * H * W])))
            }
            try time.write(tv)
            try rw.writeAll(rowWeights)
            try cw.writeAll(columnWeights)
            try kc.writeAll(columns.map { Int32($0 ?? -1) })
            try kr.writeAll(rows.map { Int32($0 ?? -1) })
            for (v, a) in coordinate + inputVars { try v.writeAll(a) }
        }
    }
}
