import ArgumentParser
import ClimateData
import NetCDF

extension CFCalendar: ExpressibleByArgument {}
extension NetCDFFormat: ExpressibleByArgument {}
extension SynthOptions.Split: ExpressibleByArgument {}

/// `faconvlstm synth`: writes a synthetic CF dataset for tests and demos.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic CF-compliant multivariate NetCDF dataset.",
        discussion: "Fields are a seasonal cycle, a travelling wave and noise (or K switching regimes with --regimes K), all from --seed.")

    @Option(help: "Output directory.") var out: String
    @Option(help: "File name prefix.") var prefix = "synth"
    @Option(help: "Number of variables.") var variables = 4
    @Option(help: "Number of time steps.") var times = 64
    @Option(help: "Grid rows (latitudes).") var height = 32
    @Option(help: "Grid columns (longitudes).") var width = 64
    @Option(help: "CF calendar.") var calendar: CFCalendar = .standard
    @Option(help: "First date.") var start = "2000-01-01"
    @Option(help: "Hours between steps.") var stepHours = 6.0
    @Option(help: "classic, classic64, netcdf4 or netcdf4_classic.") var format: NetCDFFormat = .netcdf4
    @Option(help: "One file (none), one per variable, or one per variable and year.") var split: SynthOptions.Split = .none
    @Option(help: "Fraction of points written as _FillValue.") var missingFraction = 0.0
    @Flag(help: "Global grid (longitudes over 360 degrees).") var global = false
    @Flag(help: "Packed shorts with scale_factor/add_offset.") var packed = false
    @Flag(help: "Latitudes from north to south.") var descendingLatitude = false
    @Option(help: "Switch between K spatial regimes; writes regime(time).") var regimes = 0
    @Option(help: "Deflate level 1-9 (NetCDF-4).") var deflate: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        try reportingErrors {
            var o = SynthOptions()
            o.directory = out
            o.prefix = prefix
            o.variables = variables
            o.times = times
            o.height = height
            o.width = width
            o.calendar = calendar
            o.start = start
            o.stepHours = stepHours
            o.format = format
            o.split = split
            o.missingFraction = missingFraction
            o.global = global
            o.packed = packed
            o.descendingLatitude = descendingLatitude
            o.regimes = regimes
            o.deflate = deflate
            o.seed = seed
            let files = try Synth.write(o)
            print("synth: wrote \(files.count) file\(files.count == 1 ? "" : "s") to \(out): variables \((0 ..< variables).map(o.variableName).joined(separator: ", ")), \(times) steps of \(height) x \(width)")
        }
    }
}
