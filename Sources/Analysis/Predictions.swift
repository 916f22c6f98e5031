import ClimateData
import Foundation
import Model
import NetCDF
import Training

/// Reconstructed or one-step forecast fields over the full grid, stitched
/// from tile interiors and de-normalized (`predict`, `evaluate`).
///
/// Output frame f comes from one window (`WindowPlan.predictions`): with
/// `reconstruct` its middle step; with `forecast` the prediction made at
/// step T - 2 of the window whose last frame is f, i.e. from frames up to
/// f - 1. Each grid point comes from the tile that owns it (`TileOwnership`).
/// Values are physical (`x * std + mean` of the checkpoint's normalization,
/// in Double, then rounded to Float: exactly what the file stores) and NaN
/// where the target value is missing in the data.
public final class PredictionRun {
    public let session: AnalysisSession
    public let plan: WindowPlan
    public let ownership: TileOwnership
    let runner: WindowRunner

    /// Collective.
    public init(session: AnalysisSession) throws {
        self.session = session
        plan = WindowPlan.predictions(frames: session.frames, window: session.window, objective: session.model.objective)
        ownership = TileOwnership(session.tiling)
        let p = plan
        runner = try AnalysisSession.agreed(session.comm) { try WindowRunner(session: session, plan: p) }
    }

    public var channels: Int { session.model.channels }
    public var height: Int { session.data.grid.height }
    public var width: Int { session.data.grid.width }

    /// Collective. Calls `body(frames, fields)` on every rank for each chunk of
    /// output frames, in time order; `fields` is `[frames, V, Hgrid, Wgrid]`.
    /// Errors inside `body` are agreed across ranks too.
    public func forEachChunk(_ body: (Range<Int>, [Float]) throws -> Void) throws {
        let V = channels, H = height, W = width, plane = H * W
        let objective = session.model.objective
        let norm = session.normalization
        let comm = session.comm
        let owned = (0 ..< session.tiling.count).map { ownership.ownedPoints(tile: $0) }
        for windows in runner.chunks(bytesPerFrame: V * plane * 4) {
            let frames = runner.outputFrames(ofWindows: windows)
            var fields = [Float](repeating: 0, count: frames.count * V * plane)
            try AnalysisSession.agreed(comm) {
                try runner.run(windows: windows) { batch, b, sample in
                    let pred = runner.net.prediction, B = batch.samples, th = batch.height, tw = batch.width
                    let (rows, columns) = owned[sample.tile]
                    let w = sample.windowStart - plan.frames.lowerBound
                    for f in plan.outputFrames(ofWindow: w) {
                        let j = f - sample.windowStart                   // the target frame's step in the window
                        let step = objective == .forecast ? j - 1 : j    // the decoder step that predicts it
                        for v in 0 ..< V {
                            let mean = norm.mean[v], sd = norm.std[v]
                            let src = ((step * V + v) * B + b) * th * tw
                            let dst = ((f - frames.lowerBound) * V + v) * plane
                            for (y, gy) in rows {
                                for (x, gx) in columns {
                                    let valid = batch.mask[batch.index(t: j, v: v, b: b, y: y, x: x)] != 0
                                    fields[dst + gy * W + gx] = valid ? Float(Double(pred[src + y * tw + x]) * sd + mean) : .nan
                                }
                            }
                        }
                    }
                }
            }
            comm.allReduce(&fields, op: .sum)
            for i in fields.indices { fields[i] += 0 }  // -0 -> +0: the same bits on 1 and N ranks
            try AnalysisSession.agreed(comm) { try body(frames, fields) }
        }
    }

    /// "reconstruct: ..." / "forecast: ..." for the files and the table.
    public var meaning: String {
        session.model.objective == .forecast
            ? "one-step forecast: the field at time t is predicted from the frames up to the previous step (t - 1), step \(plan.window - 2) of the window ending at t"
            : "reconstruction: the field at time t is the decoder's output at step \(plan.position) (0-based) of the \(plan.window)-frame window holding t there"
    }

    public static let stitching = "each grid point is taken from the interior of the tile whose interior center is nearest (rows and columns separately, ties to the earlier tile); halo cells are never used"
}

/// Writes `predict`'s file chunk by chunk (rank 0).
final class PredictionFileWriter {
    let file: NetCDFFile
    let target: OutputTarget
    /// Per channel: its variable and its index among the variable's levels (nil for 3-D variables).
    var variables: [(NetCDFVariable, Int?)] = []
    let firstFrame: Int
    var closed = false

    /// Defines the file (dimensions named as in the data, so xarray aligns it with the input).
    init(target: OutputTarget, run: PredictionRun) throws {
        self.target = target
        let s = run.session, data = s.data, grid = data.grid, plan = run.plan
        firstFrame = plan.outputFrames.lowerBound
        let file = try NetCDFFile.create(target.temporaryPath, format: .netcdf4)
        self.file = file
        do {
            let root = file.root
            try OutputAttributes.write(root, title: "FAConvLSTM \(s.model.objective == .forecast ? "one-step forecasts" : "reconstructions")",
                                       command: OutputAttributes.commandLine, session: s, extra: [
                                           ("prediction", run.meaning), ("stitching", PredictionRun.stitching),
                                           ("window", String(plan.window)), ("missing", "NaN (_FillValue) where the target value is missing in the data"),
                                       ])
            let timeName = data.timeDimension
            let time = TimeCoordinate(data, frames: plan.outputFrames)
            let tv = try time.define(in: root, name: timeName)
            var coordinates = try grid.defineCoordinates(in: root, axisAttributes: true)
            // One variable per data variable; level-selected channels share
            // their variable with a level coordinate of the chosen levels.
            let channels = data.channels
            var levelsOf: [String: [Double]] = [:]
            for c in channels where c.level != nil { levelsOf[c.variable, default: []].append(c.level!) }
            var levelDimensionOf: [String: String] = [:]
            var usedLevelDimensions: [String: [Double]] = [:]
            for name in data.config.variables {
                guard let levels = levelsOf[name], let c = channels.first(where: { $0.variable == name }) else { continue }
                var dim = c.levelDimension ?? "level"
                if let other = usedLevelDimensions[dim], other != levels { dim = "\(dim)_\(name)" }
                if usedLevelDimensions[dim] == nil {
                    usedLevelDimensions[dim] = levels
                    try root.defineDimension(dim, length: levels.count)
                    let lv = try root.defineVariable(dim, type: .double, dimensions: [dim])
                    try lv.setAttribute("long_name", .text("level (the levels the model was given)"))
                    coordinates.append((lv, levels))
                }
                levelDimensionOf[name] = dim
            }
            var byName: [String: NetCDFVariable] = [:]
            for name in data.config.variables {
                guard let c = channels.first(where: { $0.variable == name }) else { continue }
                var dims = [timeName, grid.rowDimension, grid.columnDimension]
                if let ld = levelDimensionOf[name] { dims.insert(ld, at: 1) }
                let chunks = dims.count == 4 ? [1, 1, grid.height, grid.width] : [1, grid.height, grid.width]
                let v = try root.defineVariable(name, type: .float, dimensions: dims, chunks: chunks)
                try v.setAttribute("_FillValue", .floats([.nan]))
                try v.setAttribute("long_name", .text("FAConvLSTM \(s.model.objective == .forecast ? "one-step forecast" : "reconstruction") of \(name)"))
                if !c.units.isEmpty { try v.setAttribute("units", .text(c.units)) }
                byName[name] = v
            }
            for c in channels {
                let levelIndex = c.level.map { l in levelsOf[c.variable]!.firstIndex(of: l)! }
                variables.append((byName[c.variable]!, levelIndex))
            }
            try time.write(tv)
            for (v, values) in coordinates { try v.writeAll(values) }
        } catch {
            try? file.close()
            target.discard()
            throw error
        }
    }

    /// Writes one chunk `[frames, V, H, W]`.
    func write(frames: Range<Int>, fields: [Float], channels V: Int, plane: Int, height: Int, width: Int) throws {
        var slab = [Float](repeating: 0, count: frames.count * plane)
        for (c, (v, level)) in variables.enumerated() {
            for k in 0 ..< frames.count {
                let src = (k * V + c) * plane
                for i in 0 ..< plane { slab[k * plane + i] = fields[src + i] }
            }
            let t0 = frames.lowerBound - firstFrame
            if let l = level {
                try v.write(slab, start: [t0, l, 0, 0], count: [frames.count, 1, height, width])
            } else {
                try v.write(slab, start: [t0, 0, 0], count: [frames.count, height, width])
            }
        }
    }

    func finish() throws {
        closed = true
        try file.close()
        try target.commit()
    }

    func abandon() {
        if !closed { try? file.close() }
        closed = true
        target.discard()
    }
}

extension PredictionRun {
    /// Collective: computes every chunk and rank 0 writes them to `target`
    /// (`predict`). Nothing is left at the path if anything fails.
    public func write(to target: OutputTarget) throws {
        let comm = session.comm
        let writer: PredictionFileWriter? = try AnalysisSession.agreed(comm) {
            comm.isRoot ? try PredictionFileWriter(target: target, run: self) : nil
        }
        do {
            try forEachChunk { frames, fields in
                try writer?.write(frames: frames, fields: fields, channels: channels, plane: height * width, height: height, width: width)
            }
            try AnalysisSession.agreed(comm) { try writer?.finish() }
        } catch {
            writer?.abandon()
            throw error
        }
    }
}
