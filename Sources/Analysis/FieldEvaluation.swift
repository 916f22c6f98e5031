import ClimateData
import Foundation
import NetCDF
import Training

/// `evaluate`: latitude-weighted RMSE and bias per channel in physical units
/// of exactly the fields `predict` writes, against the data, with the
/// persistence and climatology baselines; optionally per-grid-point maps.
///
/// Points: every (output frame, channel, grid point) whose target value is
/// valid in the data, i.e. every non-missing value of `predict`'s file.
/// Errors are `prediction - truth` with the prediction as stored (float32)
/// and the truth as decoded from the files (double), weighted by
/// `w_y = cos(lat_y) / mean cos(lat)`:
///   rmse = sqrt(sum w d^2 / sum w),  bias = sum w d / sum w.
/// Climatology predicts the per-point mean over the config's training frames
/// (`time_range` minus `validation_range`, the checkpoint's normalization);
/// it is scored on the same points. Persistence predicts frame f - 1 and is
/// scored on the points whose value at f - 1 is valid and inside the time range.
public struct FieldScores: Sendable {
    public var totals: ErrorTotals
    /// Scored points per channel (model and climatology).
    public var points: [Double]
    /// Per channel and grid point, 6 blocks `[V, H, W]`: count, sum d^2, sum d,
    /// climatology sum d^2, persistence count, persistence sum d^2 (nil without maps).
    public var maps: [Double]?
    public let channels: Int
    public let height: Int
    public let width: Int

    /// Collective: runs the predictions and scores them.
    public static func compute(_ run: PredictionRun, maps withMaps: Bool) throws -> FieldScores {
        let s = run.session, comm = s.comm, data = s.data, norm = s.normalization
        let V = run.channels, H = run.height, W = run.width, plane = H * W
        let climatology = try AnalysisSession.agreed(comm) {
            try Climatology.compute(data, normalization: norm, rank: comm.rank, ranks: comm.size) { comm.allReduce(&$0, op: .sum) }
        }
        var scores = FieldScores(totals: ErrorTotals(channels: V), points: [Double](repeating: 0, count: V),
                                 maps: withMaps ? [Double](repeating: 0, count: 6 * V * plane) : nil, channels: V, height: H, width: W)
        let weights = data.grid.latitudeWeights
        let first = s.frames.lowerBound
        var truth = [Double](repeating: 0, count: plane), previous = truth
        var k = 0  // output frame counter: frame k is scored by rank k mod R
        try run.forEachChunk { frames, fields in
            for f in frames {
                defer { k += 1 }
                guard k % comm.size == comm.rank else { continue }
                for c in 0 ..< V {
                    try truth.withUnsafeMutableBufferPointer {
                        try data.read(channel: c, frames: f ..< f + 1, rows: 0 ..< H, columns: 0 ..< W, into: $0.baseAddress!)
                    }
                    let hasPrevious = f - 1 >= first
                    if hasPrevious {
                        try previous.withUnsafeMutableBufferPointer {
                            try data.read(channel: c, frames: f - 1 ..< f, rows: 0 ..< H, columns: 0 ..< W, into: $0.baseAddress!)
                        }
                    }
                    let mean = norm.mean[c], sd = norm.std[c]
                    let src = ((f - frames.lowerBound) * V + c) * plane
                    for i in 0 ..< plane {
                        let t = truth[i]
                        if t.isNaN { continue }
                        let p = Double(fields[src + i])
                        guard p.isFinite else {
                            throw RunError("the model's prediction of \(s.data.channelNames[c]) at \(s.label(f)), grid point (\(i / W), \(i % W)) is \(p): the checkpoint gives no usable predictions")
                        }
                        let m = climatology.mean[c * plane + i]
                        let dc = (m.isNaN ? mean : m * sd + mean) - t
                        let dp: Double? = hasPrevious && !previous[i].isNaN ? previous[i] - t : nil
                        let d = p - t
                        scores.totals.add(channel: c, weight: weights[i / W], error: d, climatologyError: dc, persistenceError: dp)
                        scores.points[c] += 1
                        if scores.maps != nil {
                            let j = c * plane + i, n = V * plane
                            scores.maps![j] += 1
                            scores.maps![n + j] += d * d
                            scores.maps![2 * n + j] += d
                            scores.maps![3 * n + j] += dc * dc
                            if let dp {
                                scores.maps![4 * n + j] += 1
                                scores.maps![5 * n + j] += dp * dp
                            }
                        }
                    }
                }
            }
        }
        comm.allReduce(&scores.totals.values, op: .sum)
        comm.allReduce(&scores.points, op: .sum)
        if scores.maps != nil { comm.allReduce(&scores.maps!, op: .sum) }
        return scores
    }

    /// The table printed on stdout: one row per channel, numbers with 9 significant digits.
    public func table(names: [String], units: [String]) -> String {
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? s + fill : fill + s
        }
        func num(_ x: Double) -> String { String(format: "%.9g", x) }
        var lines = [pad("variable", 10, left: true) + " " + pad("units", 10, left: true) + ["rmse", "bias", "persistence", "climatology"].map { pad($0, 17) }.joined() + pad("points", 12)]
        for v in 0 ..< channels {
            lines.append(pad(names[v], 10, left: true) + " " + pad(units[v].isEmpty ? "-" : units[v], 10, left: true)
                         + [totals.rmse(v), totals.bias(v), totals.persistenceRMSE(v), totals.climatologyRMSE(v)].map { pad(num($0), 17) }.joined()
                         + pad(String(Int(points[v])), 12))
        }
        return lines.joined(separator: "\n")
    }

    /// The JSON report: every number at full precision (%.17g).
    public func json(names: [String], units: [String], header: [(String, String)]) -> String {
        func num(_ x: Double) -> String { x.isFinite ? String(format: "%.17g", x) : "null" }
        func str(_ s: String) -> String {
            var out = "\""
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                default: out += ch.value < 0x20 ? String(format: "\\u%04x", ch.value) : String(ch)
                }
            }
            return out + "\""
        }
        var parts = header.map { "  \(str($0.0)): \(Int($0.1) != nil ? $0.1 : str($0.1))" }  // counts as numbers
        var vars: [String] = []
        for v in 0 ..< channels {
            let fields = [
                ("units", str(units[v])), ("rmse", num(totals.rmse(v))), ("bias", num(totals.bias(v))),
                ("persistence_rmse", num(totals.persistenceRMSE(v))), ("persistence_bias", num(totals.persistenceBias(v))),
                ("climatology_rmse", num(totals.climatologyRMSE(v))), ("points", num(points[v])), ("weight_sum", num(totals.weight(v))),
            ]
            vars.append("    \(str(names[v])): {" + fields.map { "\(str($0.0)): \($0.1)" }.joined(separator: ", ") + "}")
        }
        parts.append("  \"variables\": {\n" + vars.joined(separator: ",\n") + "\n  }")
        return "{\n" + parts.joined(separator: ",\n") + "\n}\n"
    }

    /// Writes the per-grid-point maps (rank 0): for channel key K (the
    /// channel name with non-alphanumerics as '_'): rmse_K, bias_K,
    /// persistence_rmse_K, climatology_rmse_K (over time, unweighted: a
    /// point's latitude weight is constant) and count_K, on the data's grid.
    public func writeMaps(to target: OutputTarget, session s: AnalysisSession, names: [String], units: [String]) throws {
        guard let m = maps else { return }
        let grid = s.data.grid, V = channels, plane = height * width, n = V * plane
        try target.write { file in
            let root = file.root
            try OutputAttributes.write(root, title: "FAConvLSTM error maps", command: OutputAttributes.commandLine, session: s, extra: [
                ("definition", "per grid point over the output frames of the time range: rmse = sqrt(mean (prediction - truth)^2), bias = mean (prediction - truth); persistence and climatology baselines likewise (docs/outputs.md)"),
                ("time_range", "\(s.label(s.frames.lowerBound)) to \(s.label(s.frames.upperBound - 1))"),
            ])
            let coordinates = try grid.defineCoordinates(in: root, axisAttributes: false)
            let dims = [grid.rowDimension, grid.columnDimension]
            var out: [(NetCDFVariable, [Double])] = []
            for v in 0 ..< V {
                let key = String(names[v].map { $0.isLetter || $0.isNumber ? $0 : "_" })
                func field(_ f: (Int) -> Double) -> [Double] { (0 ..< plane).map { f(v * plane + $0) } }
                let count = field { m[$0] }
                let rmse = field { m[$0] > 0 ? (m[n + $0] / m[$0]).squareRoot() : .nan }
                let bias = field { m[$0] > 0 ? m[2 * n + $0] / m[$0] : .nan }
                let clim = field { m[$0] > 0 ? (m[3 * n + $0] / m[$0]).squareRoot() : .nan }
                let pers = field { m[4 * n + $0] > 0 ? (m[5 * n + $0] / m[4 * n + $0]).squareRoot() : .nan }
                for (name, values, long, hasUnits) in [
                    ("rmse_\(key)", rmse, "RMSE of the model's \(names[v])", true),
                    ("bias_\(key)", bias, "bias (prediction - truth) of the model's \(names[v])", true),
                    ("persistence_rmse_\(key)", pers, "RMSE of persistence (previous frame) for \(names[v])", true),
                    ("climatology_rmse_\(key)", clim, "RMSE of the training climatology for \(names[v])", true),
                    ("count_\(key)", count, "number of scored frames", false),
                ] {
                    let variable = try root.defineVariable(name, type: .double, dimensions: dims)
                    try variable.setAttribute("_FillValue", .doubles([.nan]))
                    try variable.setAttribute("long_name", .text(long))
                    if hasUnits && !units[v].isEmpty { try variable.setAttribute("units", .text(units[v])) }
                    out.append((variable, values))
                }
            }
            for (v, values) in coordinates + out { try v.writeAll(values) }
        }
    }
}

extension Grid {
    /// Defines the grid's row and column dimensions in `root`, with latitude
    /// and longitude coordinate variables where the data has them (and `axis`
    /// Y / X when `axisAttributes`); returns them with the values to write
    /// once out of define mode.
    func defineCoordinates(in root: NetCDFGroup, axisAttributes: Bool) throws -> [(NetCDFVariable, [Double])] {
        try root.defineDimension(rowDimension, length: height)
        try root.defineDimension(columnDimension, length: width)
        var coordinates: [(NetCDFVariable, [Double])] = []
        for (dimension, values, standardName, units, axis) in [(rowDimension, latitudes, "latitude", "degrees_north", "Y"),
                                                                (columnDimension, longitudes, "longitude", "degrees_east", "X")] {
            guard let values else { continue }
            let v = try root.defineVariable(dimension, type: .double, dimensions: [dimension])
            try v.setAttribute("standard_name", .text(standardName))
            try v.setAttribute("units", .text(units))
            if axisAttributes { try v.setAttribute("axis", .text(axis)) }
            coordinates.append((v, values))
        }
        return coordinates
    }
}
