import ArgumentParser
import Distributed

/// Hidden: checks that MPI collectives work across the ranks of this job.
struct MPISelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-selftest", abstract: "Check MPI collectives across ranks (for tests).", shouldDisplay: false)

    func run() throws {
        let comm = try Communicator.world()
        defer { comm.finalize() }
        let sum = comm.allReduce(Double(comm.rank + 1), op: .sum)
        let expected = Double(comm.size * (comm.size + 1) / 2)
        var buf = [Float](repeating: Float(comm.rank), count: 1000)
        let req = buf.withUnsafeMutableBufferPointer { comm.startAllReduce($0, op: .max) }
        req.wait()
        let text = comm.broadcast(string: comm.isRoot ? "hello from 0" : "")
        let ok = sum == expected && buf.allSatisfy { $0 == Float(comm.size - 1) } && text == "hello from 0"
        print("rank \(comm.rank)/\(comm.size) on \(comm.processorName): \(ok ? "ok" : "MISMATCH")")
        if !ok { throw ExitCode(1) }
    }
}
