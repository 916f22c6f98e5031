import CMPI
import Foundation

/// Element types that MPI collectives move. The MPI datatype mapping stays
/// inside this module, so no C type leaks into the public API.
public protocol MPIScalar: Sendable {}
extension Float: MPIScalar {}
extension Double: MPIScalar {}
extension Int32: MPIScalar {}
extension Int64: MPIScalar {}
extension UInt64: MPIScalar {}
extension UInt8: MPIScalar {}

@inline(__always)
func mpiDatatype<T: MPIScalar>(_: T.Type) -> MPI_Datatype {
    if T.self == Float.self { return cmpi_float() }
    if T.self == Double.self { return cmpi_double() }
    if T.self == Int32.self { return cmpi_int32() }
    if T.self == Int64.self { return cmpi_int64() }
    if T.self == UInt64.self { return cmpi_uint64() }
    return cmpi_byte()
}

public enum ReduceOp: Sendable {
    case sum, max, min
    var handle: MPI_Op {
        switch self {
        case .sum: cmpi_sum()
        case .max: cmpi_max()
        case .min: cmpi_min()
        }
    }
}

/// A failed MPI call: names the call and MPI's own message.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The world communicator of this job: rank, size, and the collectives the
/// trainer uses. With one rank and no MPI launched (`.serial`), every
/// collective returns at once without touching MPI.
public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// False for `.serial`: MPI was never initialized in this process.
    public let usesMPI: Bool
    public var isRoot: Bool { rank == 0 }

    private init(rank: Int, size: Int, usesMPI: Bool) {
        self.rank = rank
        self.size = size
        self.usesMPI = usesMPI
    }

    /// One rank, no MPI: for commands that never communicate and for tests.
    public static let serial = Communicator(rank: 0, size: 1, usesMPI: false)

    /// Initializes MPI (once per process) with thread support MULTIPLE, so the
    /// watchdog thread may call `MPI_Abort` while the main thread is blocked in a
    /// collective. Started without mpirun, this is a 1-rank job (singleton init).
    public static func world() throws -> Communicator {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let rc = MPI_Init_thread(nil, nil, cmpi_thread_multiple(), &provided)
            guard rc == cmpi_success() else { throw MPIError(description: "MPI_Init_thread failed: \(errorString(rc))") }
        }
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &rank)
        MPI_Comm_size(cmpi_comm_world(), &size)
        return Communicator(rank: Int(rank), size: Int(size), usesMPI: true)
    }

    /// True when this process was started by an MPI launcher (mpirun, srun with PMI).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMI_SIZE"] != nil || env["PMIX_RANK"] != nil
    }

    public static func errorString(_ code: Int32) -> String {
        var buf = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var len: Int32 = 0
        MPI_Error_string(code, &buf, &len)
        return String(decoding: buf.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var processorName: String {
        guard usesMPI else { return ProcessInfo.processInfo.hostName }
        var buf = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var len: Int32 = 0
        MPI_Get_processor_name(&buf, &len)
        return String(decoding: buf.prefix(Int(len)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func barrier() {
        guard usesMPI else { return }
        MPI_Barrier(cmpi_comm_world())
    }

    /// Root's buffer contents replace every other rank's. Counts must agree.
    public func broadcast<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int = 0) {
        guard usesMPI, size > 1, buffer.count > 0 else { return }
        MPI_Bcast(buffer.baseAddress, Int32(buffer.count), mpiDatatype(T.self), Int32(root), cmpi_comm_world())
    }

    public func broadcast<T: MPIScalar>(_ value: T, root: Int = 0) -> T {
        var v = value
        withUnsafeMutablePointer(to: &v) { broadcast(UnsafeMutableBufferPointer(start: $0, count: 1), root: root) }
        return v
    }

    /// Broadcasts an array whose length only the root knows.
    public func broadcast<T: MPIScalar>(array: [T], root: Int = 0) -> [T] {
        guard usesMPI, size > 1 else { return array }
        let n: Int64 = broadcast(Int64(array.count), root: root)
        var out = rank == root ? array : [T](unsafeUninitializedCapacity: Int(n)) { buf, count in
            // Zero-filled so the buffer is initialized before MPI writes it.
            if let base = buf.baseAddress { memset(base, 0, Int(n) * MemoryLayout<T>.stride) }
            count = Int(n)
        }
        out.withUnsafeMutableBufferPointer { broadcast($0, root: root) }
        return out
    }

    /// Broadcasts text (paths, messages, TOML) from the root.
    public func broadcast(string: String, root: Int = 0) -> String {
        guard usesMPI, size > 1 else { return string }
        let bytes = broadcast(array: Array(string.utf8), root: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// In-place all-reduce.
    public func allReduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) {
        guard usesMPI, size > 1, buffer.count > 0 else { return }
        MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), mpiDatatype(T.self), op.handle, cmpi_comm_world())
    }

    public func allReduce<T: MPIScalar>(_ array: inout [T], op: ReduceOp) {
        array.withUnsafeMutableBufferPointer { allReduce($0, op: op) }
    }

    public func allReduce<T: MPIScalar>(_ value: T, op: ReduceOp) -> T {
        var v = value
        withUnsafeMutablePointer(to: &v) { allReduce(UnsafeMutableBufferPointer(start: $0, count: 1), op: op) }
        return v
    }

    /// Starts a non-blocking in-place all-reduce (`MPI_Iallreduce`). The buffer
    /// must stay valid and untouched until the request completes.
    public func startAllReduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) -> Request {
        guard usesMPI, size > 1, buffer.count > 0 else { return Request(completed: ()) }
        let r = Request()
        MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), mpiDatatype(T.self), op.handle, cmpi_comm_world(), r.handle)
        return r
    }

    /// Gathers one value from every rank on every rank, in rank order.
    public func allGather<T: MPIScalar>(_ value: T) -> [T] {
        guard usesMPI, size > 1 else { return [value] }
        var mine = value
        var out = [T](repeating: value, count: size)
        out.withUnsafeMutableBufferPointer { o in
            _ = withUnsafeMutablePointer(to: &mine) { m in
                MPI_Allgather(m, 1, mpiDatatype(T.self), o.baseAddress, 1, mpiDatatype(T.self), cmpi_comm_world())
            }
        }
        return out
    }

    /// Ends the whole job (all ranks) with `code`. Safe from any thread.
    public func abort(code: Int32) -> Never {
        if usesMPI { MPI_Abort(cmpi_comm_world(), code) }
        exit(code)
    }

    /// Collective: every rank must call it before exiting normally.
    public func finalize() {
        guard usesMPI else { return }
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }
}

/// A pending non-blocking collective.
public final class Request: @unchecked Sendable {
    let handle: UnsafeMutablePointer<MPI_Request?>
    public private(set) var isComplete: Bool

    init() {
        handle = .allocate(capacity: 1)
        handle.initialize(to: Optional(cmpi_request_null()))
        isComplete = false
    }

    init(completed: Void) {
        handle = .allocate(capacity: 1)
        handle.initialize(to: Optional(cmpi_request_null()))
        isComplete = true
    }

    deinit { handle.deallocate() }

    /// Drives MPI progress; true once complete.
    @discardableResult
    public func test() -> Bool {
        if isComplete { return true }
        var flag: Int32 = 0
        MPI_Test(handle, &flag, cmpi_status_ignore())
        if flag != 0 { isComplete = true }
        return isComplete
    }

    public func wait() {
        if isComplete { return }
        MPI_Wait(handle, cmpi_status_ignore())
        isComplete = true
    }
}
