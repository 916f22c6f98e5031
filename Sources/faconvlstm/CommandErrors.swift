import ArgumentParser
import ClimateData
import Foundation
import Model
import NetCDF
import Training

/// Runs a command body; a user error becomes `faconvlstm: error: <one line>`
/// on stderr (prefixed `[rank N]` with several ranks) and exit code 2 (bad
/// config or input) or 1 (failure at run time), per docs/design.md.
func reportingErrors(rank: Int = 0, ranks: Int = 1, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        let prefix = ranks > 1 ? "[rank \(rank)] " : ""
        let code: Int32
        switch error {
        case let d as DataError: code = d.atRunTime ? 1 : 2
        case is ConfigFileError, is ConfigError, is NetCDFError, is ValidationError: code = 2
        default: code = 1
        }
        FileHandle.standardError.write(Data("faconvlstm: error: \(prefix)\(error)\n".utf8))
        throw ExitCode(code)
    }
}
