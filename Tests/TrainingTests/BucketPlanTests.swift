import Distributed
import Model
import XCTest

/// Bucket planning of the gradient all-reduce (no MPI needed).
final class BucketPlanTests: XCTestCase {
    /// Every element in exactly one bucket; each bucket inside one block and
    /// at most the size limit; buckets in block-ready order.
    func checkPlan(_ plan: BucketPlan, count: Int, maxBytes: Int, file: StaticString = #filePath, line: UInt = #line) {
        var seen = [Int](repeating: 0, count: count)
        for b in plan.buckets { for i in b { seen[i] += 1 } }
        XCTAssertEqual(seen, [Int](repeating: 1, count: count), "buckets cover the buffer exactly once", file: file, line: line)
        XCTAssertEqual(plan.bucketsOfBlock.count, plan.blocks.count, file: file, line: line)
        var next = 0
        for (block, ks) in zip(plan.blocks, plan.bucketsOfBlock) {
            XCTAssertEqual(ks.lowerBound, next, "buckets are started block by block, in ready order", file: file, line: line)
            next = ks.upperBound
            for k in ks {
                let b = plan.buckets[k]
                XCTAssertTrue(block.lowerBound <= b.lowerBound && b.upperBound <= block.upperBound,
                              "bucket \(b) inside its block \(block)", file: file, line: line)
                XCTAssertLessThanOrEqual(b.count * 4, max(maxBytes, 4), file: file, line: line)
                XCTAssertFalse(b.isEmpty, file: file, line: line)
            }
        }
        XCTAssertEqual(next, plan.buckets.count, file: file, line: line)
    }

    func testDefaultModelLayoutGetsOneBucketPerBlockInReadyOrder() {
        let layout = ParameterLayout(config: ModelConfig())
        let blocks = BucketPlan.readyOrder(layerRanges: layout.layerRanges, headRange: layout.headRange)
        XCTAssertEqual(blocks, [layout.headRange, layout.layerRanges[1], layout.layerRanges[0]])
        let plan = BucketPlan(blocks: blocks, maxBucketBytes: 4 << 20)
        XCTAssertEqual(plan.buckets, blocks)  // ~15k floats: every block fits one 4 MiB bucket
        XCTAssertTrue(plan.covers(count: layout.totalCount))
        checkPlan(plan, count: layout.totalCount, maxBytes: 4 << 20)
    }

    func testLargeBlocksAreCutIntoNearEqualBucketsFromTheirEnd() {
        let blocks = [700 ..< 1000, 0 ..< 700]
        let plan = BucketPlan(blocks: blocks, maxBucketBytes: 1000)  // 250 floats
        // 300 -> 150 + 150; 700 -> 234 + 233 + 233, from the end toward the start.
        XCTAssertEqual(plan.buckets, [850 ..< 1000, 700 ..< 850, 466 ..< 700, 233 ..< 466, 0 ..< 233])
        XCTAssertEqual(plan.bucketsOfBlock, [0 ..< 2, 2 ..< 5])
        checkPlan(plan, count: 1000, maxBytes: 1000)
    }

    func testRandomLayoutsAndSizes() {
        var seed: UInt64 = 12345
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        for _ in 0 ..< 200 {
            var cuts = [0]
            for _ in 0 ..< 1 + next(6) { cuts.append(cuts.last! + next(5000)) }  // empty blocks allowed
            let count = cuts.last!
            let layers = zip(cuts, cuts.dropFirst()).map { $0 ..< $1 }
            let blocks = BucketPlan.readyOrder(layerRanges: Array(layers.dropLast()), headRange: layers.last!)
            let maxBytes = 1 + next(20000)
            let plan = BucketPlan(blocks: blocks, maxBucketBytes: maxBytes)
            XCTAssertTrue(plan.covers(count: count))
            checkPlan(plan, count: count, maxBytes: maxBytes)
        }
    }

    func testCoverageDetectsGaps() {
        XCTAssertFalse(BucketPlan(blocks: [5 ..< 10, 0 ..< 4], maxBucketBytes: 64).covers(count: 10))
        XCTAssertFalse(BucketPlan(blocks: [0 ..< 10], maxBucketBytes: 64).covers(count: 11))
        XCTAssertTrue(BucketPlan(blocks: [5 ..< 10, 0 ..< 5], maxBucketBytes: 64).covers(count: 10))
    }

    /// One rank: every call returns at once and the buffer is untouched.
    func testSerialReducerIsANoOp() {
        var grads: [Float] = (0 ..< 100).map(Float.init)
        let expected = grads
        grads.withUnsafeMutableBufferPointer { buf in
            for mode in GradientAllReducer.Mode.allCases {
                let reducer = GradientAllReducer(communicator: .serial, buffer: buf, layerRanges: [0 ..< 40, 40 ..< 90],
                                                 headRange: 90 ..< 100, bucketBytes: 64, mode: mode)
                XCTAssertFalse(reducer.isActive)
                for _ in 0 ..< 2 {
                    reducer.beginStep()
                    reducer.blockReady(90 ..< 100)
                    reducer.progress()
                    reducer.blockReady(40 ..< 90)
                    reducer.blockReady(0 ..< 40)
                    XCTAssertEqual(reducer.finish(), AllReduceTimings())
                }
            }
        }
        XCTAssertEqual(grads, expected)
    }

    func testTimingsHiddenShare() {
        var t = AllReduceTimings()
        XCTAssertEqual(t.hiddenFraction, 0)
        t.inFlightSeconds = 0.4
        t.exposedSeconds = 0.1
        XCTAssertEqual(t.hiddenSeconds, 0.3, accuracy: 1e-12)
        XCTAssertEqual(t.hiddenFraction, 0.75, accuracy: 1e-12)
    }
}
