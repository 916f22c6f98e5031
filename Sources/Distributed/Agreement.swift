import CMPI

/// Decisions every rank must take the same way: each is an all-reduce, so all
/// ranks return the same answer (and each is a collective: every rank calls it).
extension Communicator {
    /// True on every rank if `flag` is true on at least one.
    public func anyRank(_ flag: Bool) -> Bool {
        allReduce(Int32(flag ? 1 : 0), op: .max) != 0
    }

    /// True on every rank if `flag` is true on all of them.
    public func allRanks(_ flag: Bool) -> Bool {
        allReduce(Int32(flag ? 1 : 0), op: .min) != 0
    }

    /// Sums, flags and maxima of one optimizer step, all reduced in one
    /// `MPI_Allreduce` (a user-defined operation on a 6-double record).
    public func reduce(_ local: StepReduction) -> StepReduction {
        guard usesMPI, size > 1 else { return local }
        var record = local.record
        let handles = StepReductionHandles.shared
        record.withUnsafeMutableBufferPointer { buf in
            _ = MPI_Allreduce(cmpi_in_place(), buf.baseAddress, 1, handles.type, handles.op, cmpi_comm_world())
        }
        return StepReduction(record: record)
    }
}

/// What the ranks agree on after each optimizer step. Built from this rank's
/// values, passed to `Communicator.reduce`, which returns the global ones on
/// every rank.
public struct StepReduction: Sendable, Equatable {
    /// Summed: this rank's loss numerator sum(w m (Xhat - Y)^2).
    public var lossNumerator: Double
    /// Summed: this rank's loss denominator sum(w m).
    public var lossDenominator: Double
    /// Summed: this rank's part of the squared gradient norm.
    public var gradNormSquared: Double
    /// Summed: 1 if this rank saw a non-finite loss or gradient; after the
    /// reduce, the number of ranks that did.
    public var nonFiniteRanks: Int
    /// Max: the most specific stop request of any rank (signal over deadline).
    public var stop: StopReason
    /// Max: this rank's step time; after the reduce, the slowest rank's.
    public var stepSeconds: Double

    public init(lossNumerator: Double = 0, lossDenominator: Double = 0, gradNormSquared: Double = 0,
                nonFinite: Bool = false, stop: StopReason = .none, stepSeconds: Double = 0) {
        self.lossNumerator = lossNumerator
        self.lossDenominator = lossDenominator
        self.gradNormSquared = gradNormSquared
        self.nonFiniteRanks = nonFinite ? 1 : 0
        self.stop = stop
        self.stepSeconds = stepSeconds
    }

    public var nonFinite: Bool { nonFiniteRanks > 0 }
    /// The global loss (0 when the denominator is 0, MODEL.md).
    public var loss: Double { lossDenominator > 0 ? lossNumerator / lossDenominator : 0 }

    // Record layout: [sum, sum, sum, sum, max, max].
    static let width = 6
    static let sumFields = 4

    var record: [Double] {
        [lossNumerator, lossDenominator, gradNormSquared, Double(nonFiniteRanks), stop.code, stepSeconds]
    }

    init(record r: [Double]) {
        lossNumerator = r[0]
        lossDenominator = r[1]
        gradNormSquared = r[2]
        nonFiniteRanks = Int(r[3])
        stop = StopReason(code: r[4])
        stepSeconds = r[5]
    }
}

/// The MPI datatype (6 contiguous doubles) and operation of `StepReduction`,
/// created once, after MPI_Init (the first `reduce`). Immutable afterwards,
/// and MPI handles may be used from any thread (MPI_THREAD_MULTIPLE).
private final class StepReductionHandles: @unchecked Sendable {
    let type: MPI_Datatype?
    let op: MPI_Op?

    static let shared = StepReductionHandles()

    private init() {
        var t: MPI_Datatype? = nil
        MPI_Type_contiguous(Int32(StepReduction.width), cmpi_double(), &t)
        MPI_Type_commit(&t)
        var o: MPI_Op? = nil
        // Commutative: MPI may combine in any order; every rank still gets the same result.
        MPI_Op_create(stepReductionCombine, 1, &o)
        type = t
        op = o
    }
}

/// inout[i] = combine(in[i], inout[i]) for `len` records.
private func stepReductionCombine(_ invec: UnsafeMutableRawPointer?, _ inoutvec: UnsafeMutableRawPointer?,
                                  _ len: UnsafeMutablePointer<Int32>?, _ type: UnsafeMutablePointer<MPI_Datatype?>?) {
    guard let invec, let inoutvec, let len else { return }
    let a = invec.assumingMemoryBound(to: Double.self)
    let b = inoutvec.assumingMemoryBound(to: Double.self)
    let w = StepReduction.width
    for r in 0 ..< Int(len.pointee) {
        for i in 0 ..< w {
            let j = r * w + i
            b[j] = i < StepReduction.sumFields ? a[j] + b[j] : Swift.max(a[j], b[j])
        }
    }
}

/// A 64-bit, order-dependent hash of the parameters' bit patterns, compared
/// across ranks: data-parallel replicas must stay bitwise identical, and a
/// difference (a bad node, a non-deterministic kernel, a missed all-reduce) is
/// found at the step it appears instead of as a mysterious loss curve.
public enum ParameterChecksum {
    /// FNV-1a over the 32-bit patterns, in index order (so a permutation differs).
    public static func hash(_ values: UnsafeBufferPointer<Float>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Collective. Returns on every rank when all ranks hold the same
    /// parameters; throws `ParameterDivergence` on every rank otherwise (the
    /// decision is all-reduced, so all ranks throw together).
    public static func verify(_ values: UnsafeBufferPointer<Float>, step: Int, communicator comm: Communicator) throws {
        let h = hash(values)
        guard comm.size > 1 else { return }
        // One MAX all-reduce gives max(h) and, through the complement, min(h).
        var pair: [UInt64] = [h, ~h]
        comm.allReduce(&pair, op: .max)
        let maxHash = pair[0], minHash = ~pair[1]
        guard minHash != maxHash else { return }
        throw ParameterDivergence(step: step, hashes: comm.allGather(h))
    }
}

/// Parameters differ across ranks. Names the ranks that disagree with rank 0.
public struct ParameterDivergence: Error, CustomStringConvertible, Sendable, Equatable {
    public let step: Int
    /// Per rank, in rank order.
    public let hashes: [UInt64]

    public init(step: Int, hashes: [UInt64]) {
        self.step = step
        self.hashes = hashes
    }

    /// Ranks whose parameters differ from rank 0's.
    public var divergingRanks: [Int] { hashes.indices.filter { hashes[$0] != hashes[0] } }

    public var description: String {
        let ranks = divergingRanks
        let list = ranks.map(String.init).joined(separator: ", ")
        let hex = { (h: UInt64) in "0x" + String(h, radix: 16) }
        return "parameters diverged across ranks at step \(step): "
            + (ranks.count == 1 ? "rank \(list) differs" : "ranks \(list) differ") + " from rank 0 (checksum \(hex(hashes[0])) on rank 0; "
            + ranks.map { "\(hex(hashes[$0])) on rank \($0)" }.joined(separator: ", ") + ")"
    }
}
