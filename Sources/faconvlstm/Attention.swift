import Analysis
import ArgumentParser
import ClimateData
import Foundation
import Training

/// `faconvlstm attention`: axial attention weights of one query position.
struct Attention: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the axial attention weights (row and column softmax) of one grid point at one time step.",
        discussion: """
            Runs the one window and tile that hold the point and the time at an
            attended step, and writes the row weights (over the point's tile row)
            and column weights (over its tile column) with their coordinates and
            the input fields of the tile. See docs/outputs.md.

              faconvlstm attention --checkpoint runs/storm --config configs/storm.toml --time "1996-01-10 12:00" --layer 0 --y 16 --x 18 --output att.nc
            """)

    @OptionGroup var inputs: ModelRunOptions

    @Option(help: ArgumentHelp("The time step: a date (\"1996-01-10 12:00\") or a 0-based frame index.", valueName: "T"))
    var time: String
    @Option(help: "Recurrent layer, 0-based.") var layer = 0
    @Option(name: .customLong("y"), help: "Grid row of the query point (0-based, file order).") var row: Int
    @Option(name: .customLong("x"), help: "Grid column of the query point (0-based).") var column: Int
    @Option(help: "The NetCDF file to write.") var output: String
    @Flag(help: "Replace the output file if it exists.") var overwrite = false

    func run() throws {
        runOnEveryRank { comm in
            guard comm.size == 1 else { throw RunError("attention runs on one rank; start it without mpirun", exitCode: .badInput, scope: .allRanks) }
            let session = try AnalysisSession(options: inputs.analysisOptions, communicator: comm)
            defer { session.close() }
            let target = OutputTarget(path: output, overwrite: overwrite)
            try target.check()
            let frame = try Attention.frame(time, session: session)
            let dump = try AttentionDump(session: session, frame: frame, layer: layer, row: row, column: column)
            try dump.write(to: target, session: session)
            let top = dump.rowWeights.enumerated().max { $0.element < $1.element }!
            let topColumn = dump.columnWeights.enumerated().max { $0.element < $1.element }!
            print("attention: wrote \(output): \(session.label(frame)), layer \(layer), point (y \(row), x \(column)), window from frame \(dump.windowStart) at step \(dump.step), tile \(dump.tile); strongest row key at tile column \(top.offset) (\(String(format: "%.4f", top.element))), column key at tile row \(topColumn.offset) (\(String(format: "%.4f", topColumn.element)))")
        }
    }

    /// A frame index, or the first frame at or after a date.
    static func frame(_ text: String, session: AnalysisSession) throws -> Int {
        if let i = Int(text) { return i }
        do { return try session.data.time.frames(.dates(text, text), field: "time").lowerBound } catch let e as DataError {
            throw RunError("--time: \(e.message.replacingOccurrences(of: "data.time: ", with: ""))", exitCode: .badInput)
        }
    }
}
