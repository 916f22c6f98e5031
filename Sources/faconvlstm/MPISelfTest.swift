import ArgumentParser
import Distributed
import Foundation
import Training

/// Hidden: checks that MPI collectives work across the ranks of this job.
struct MPISelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-selftest", abstract: "Check MPI collectives across ranks (for tests).", shouldDisplay: false)

    @Option(help: "Then keep all-reducing for this many seconds (a long-running job for failure tests).")
    var loopSeconds: Double = 0

    @Flag(help: "Print this rank's resident memory before MPI_Init and after it and the collectives (how `train --dry-run` knows what MPI adds).")
    var memory = false

    func run() throws {
        let before = ProcessMemory.current()
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
        if memory {
            let after = ProcessMemory.current()
            print("rank \(comm.rank)/\(comm.size) memory: VmRSS \(after.resident / 1024) kB after MPI_Init and collectives, \(before.resident / 1024) kB before: MPI adds \((after.resident - before.resident) / 1024) kB (anonymous \((after.anonymous - before.anonymous) / 1024), file \((after.file - before.file) / 1024), shared \((after.shared - before.shared) / 1024))")
        }
        print("rank \(comm.rank)/\(comm.size) on \(comm.processorName): \(ok ? "ok" : "MISMATCH")")
        if !ok { throw ExitCode(1) }
    }
}
