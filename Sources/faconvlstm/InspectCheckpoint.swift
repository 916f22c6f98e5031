import ArgumentParser
import Foundation
import Model
import Training

/// `faconvlstm inspect CHECKPOINT`: what a checkpoint holds, and whether it is intact.
struct InspectCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a checkpoint holds and verify every checksum.",
        discussion: """
            Reads the whole checkpoint file (<run>/checkpoints/ckpt-<step>.nc) the way \
            resume does: format and version, every attribute, every parameter and \
            AdamW moment with the model's shape, and all data, so each variable's \
            Fletcher32 checksum is verified. Prints the training position (step, \
            epoch, samples seen, seed), the model hyperparameters, the normalization, \
            and one line per parameter (shape, count, min, max, RMS).

            Exit status: 0 when the checkpoint is valid, 1 when it is not (one line \
            on stderr names the file and the problem: damaged data, missing \
            variable, wrong shape, NaN, ...). Resume skips such a file and falls \
            back to the next older valid checkpoint.

            Examples:
              faconvlstm inspect run/checkpoints/ckpt-00012000.nc
              faconvlstm inspect --config run/checkpoints/ckpt-00012000.nc > again.toml
              faconvlstm inspect run/checkpoints/$(cat run/checkpoints/latest)

            The file is plain NetCDF-4 (docs/checkpoints.md): `ncdump -h` and \
            xarray (`xr.open_dataset(path, group="params")`) read it too.
            """)

    @Argument(help: "The checkpoint file (ckpt-<step>.nc).") var checkpoint: String
    @Flag(help: "Print only the run configuration stored in the checkpoint (TOML), e.g. to start a new run from it.")
    var config = false

    func run() throws {
        let state: TrainingState
        do {
            state = try CheckpointStore.load(checkpoint)
        } catch {
            FileHandle.standardError.write(Data("faconvlstm: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if config {
            print(state.config, terminator: state.config.hasSuffix("\n") ? "" : "\n")
        } else {
            let bytes = (try? FileManager.default.attributesOfItem(atPath: checkpoint)[.size] as? Int) ?? 0
            print(CheckpointSummary.text(state, path: checkpoint, fileBytes: bytes), terminator: "")
        }
    }
}

enum CheckpointSummary {
    static func text(_ s: TrainingState, path: String, fileBytes: Int) -> String {
        var out = ""
        func line(_ t: String = "") { out += t + "\n" }
        func g(_ v: Double) -> String { String(format: "%.6g", v) }
        let m = s.model
        line("checkpoint: \(path) (\(String(format: "%.1f", Double(fileBytes) / 1_048_576)) MiB)")
        line("format: \(CheckpointFile.format) version \(CheckpointFile.formatVersion)")
        line("step: \(s.step)")
        line("epoch: \(s.epoch)")
        line("samples seen: \(s.samplesSeen)")
        line("seed: \(s.seed)")
        line("world size: \(s.worldSize)")
        line("created: \(s.created)")
        line("software version: \(s.softwareVersion)")
        line("model:")
        line("  cell \(m.cell.rawValue), objective \(m.objective.rawValue)")
        line("  channels \(m.channels), layers \(m.layers), hidden \(m.hidden), kernel \(m.kernel), bottleneck \(m.resolvedBottleneck), dilations \(m.dilations)")
        line("  se_reduction \(m.seReduction), attn_stride \(m.attnStride), attn_dk \(m.attnDk), embed_dim \(m.embedDim), season_period_days \(String(format: "%.10g", m.resolvedSeasonPeriod))")
        line("normalization:")
        let norm = s.normalization
        var rows = [["channel", "mean", "std"]]
        for c in norm.channels.indices { rows.append([norm.channels[c], String(format: "%.10g", norm.mean[c]), String(format: "%.10g", norm.std[c])]) }
        table(rows, &out)
        line("parameters:")
        rows = [["name", "shape", "count", "min", "max", "rms"]]
        let layout = s.layout
        for e in layout.entries {
            let st = stats(s.parameters[e.range])
            rows.append([e.name, "[" + e.shape.map(String.init).joined(separator: ", ") + "]", String(e.count), g(st.min), g(st.max), g(st.rms)])
        }
        table(rows, &out)
        let all = stats(s.parameters[...])
        line("total: \(layout.entries.count) parameters, \(layout.totalCount) values, min \(g(all.min)), max \(g(all.max)), rms \(g(all.rms))")
        if let mo = s.moments {
            let a = stats(mo.first[...]), b = stats(mo.second[...])
            line("optimizer: AdamW moments present (/adam_m rms \(g(a.rms)), /adam_v rms \(g(b.rms)))")
        } else {
            line("optimizer: no AdamW moments (plain SGD)")
        }
        let variables = layout.entries.count * (s.moments == nil ? 1 : 3) + 2
        line("checksums: all \(variables) variables verified (Fletcher32)")
        return out
    }

    static func stats(_ v: ArraySlice<Float>) -> (min: Double, max: Double, rms: Double) {
        var lo = Double.infinity, hi = -Double.infinity, ss = 0.0
        for x in v {
            let d = Double(x)
            lo = min(lo, d)
            hi = max(hi, d)
            ss += d * d
        }
        return (lo, hi, v.isEmpty ? 0 : (ss / Double(v.count)).squareRoot())
    }

    /// Left-aligned first column, right-aligned others, two spaces apart, indented.
    static func table(_ rows: [[String]], _ out: inout String) {
        let widths = (0 ..< rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for r in rows {
            let cells = r.enumerated().map { c, t in
                let pad = String(repeating: " ", count: widths[c] - t.count)
                return c == 0 ? t + pad : pad + t
            }
            out += "  " + cells.joined(separator: "  ") + "\n"
        }
    }
}
