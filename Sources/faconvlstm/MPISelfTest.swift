import ArgumentParser
import Distributed
import Foundation

/// Hidden: checks that MPI collectives work across the ranks of this job.
struct MPISelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-selftest", abstract: "Check MPI collectives across ranks (for tests).", shouldDisplay: false)

    @Option(help: "Then keep all-reducing for this many seconds (a long-running job for failure tests).")
    var loopSeconds: Double = 0

    func run() throws {
        let comm = try Communicator.world()
        defer { comm.finalize() }
        let sum = comm.allReduce(Double(comm.rank + 1), op: .sum)
        let expected = Double(comm.size * (comm.size + 1) / 2)
        var buf = [Float](repeating: Float(comm.rank), count: 1000)
        let req = buf.withUnsafeMutableBufferPointer { comm.startAllReduce($0, op: .max) }
        req.wait()
        let text = comm.broadcast(string: comm.isRoot ? "hello from 0" : "")
        var ok = sum == expected && buf.allSatisfy { $0 == Float(comm.size - 1) } && text == "hello from 0"
        if loopSeconds > 0 {
            print("rank \(comm.rank)/\(comm.size) on \(comm.processorName): looping for \(loopSeconds) s")
            fflush(nil)  // all C streams, so mpirun forwards the line now, not at exit
            let start = Date()
            // Every rank stops at the same iteration: the first rank past the time decides.
            while comm.allReduce(Int32(Date().timeIntervalSince(start) >= loopSeconds ? 1 : 0), op: .max) == 0 {
                ok = ok && comm.allReduce(Double(comm.rank + 1), op: .sum) == expected
                usleep(10_000)
            }
        }
        print("rank \(comm.rank)/\(comm.size) on \(comm.processorName): \(ok ? "ok" : "MISMATCH")")
        if !ok { throw ExitCode(1) }
    }
}
