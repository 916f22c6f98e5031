import XCTest
import Model

/// ThreadedNetwork splits a batch's samples across replicas on threads: the
/// loss, the gradients (and the order of `ready` blocks) are those of one
/// network over the whole batch, up to the order of the gradient sum.
final class ThreadedNetworkTests: XCTestCase {
    /// Reference: a single Double network on the same batch. 1, 2 and 3 threads
    /// on 5 samples (uneven shares 2+3, 1+2+2), both cells, both objectives:
    /// loss and every gradient within 1e-12 relative, prediction within 1e-12
    /// (BLAS may block a product of fewer columns differently), blocks in order.
    func testThreadsGiveTheSingleNetworkResult() {
        for cell in ModelConfig.Cell.allCases {
            for objective in ModelConfig.Objective.allCases {
                let c = NetworkTests.small(cell, objective: objective)
                let single = Network<Double>(config: c, maxSamples: 5, steps: 4, height: 6, width: 5)
                single.initialize(seed: 1)
                single.layout.randomizeZeroInitialized(single.params, seed: 2)
                let batch = Batch<Double>.random(samples: 5, steps: 4, channels: 3, height: 6, width: 5, seed: 3)
                let loss = single.forward(batch)
                let prediction = Array(single.prediction)
                single.backward(scale: 0.5)
                let norm = single.grads.reduce(0) { $0 + $1 * $1 }.squareRoot()
                XCTAssertGreaterThan(norm, 0)
                for threads in [1, 2, 3] {
                    let net = ThreadedNetwork<Double>(config: c, maxSamples: 5, steps: 4, height: 6, width: 5, threads: threads)
                    XCTAssertEqual(net.replicas.count, threads)
                    net.params.update(fromContentsOf: single.params)
                    let l = net.forward(batch)
                    XCTAssertEqual(l, loss, accuracy: 1e-12 * loss, "\(cell) \(objective) threads \(threads)")
                    let p = net.prediction
                    XCTAssertEqual(p.count, prediction.count)
                    let worst = zip(p, prediction).map { abs($0 - $1) }.max() ?? .infinity
                    XCTAssertLessThan(worst, 1e-12, "\(cell) \(objective) threads \(threads) prediction")
                    var blocks: [Range<Int>] = []
                    var progress = 0
                    net.backward(scale: 0.5, ready: { blocks.append($0) }, progress: { progress += 1 })
                    XCTAssertEqual(blocks, [net.layout.headRange] + net.layout.layerRanges.reversed())
                    XCTAssertEqual(progress, c.layers * 4, "progress is reported from the calling thread's replica only")
                    var diff = 0.0
                    for i in 0 ..< net.layout.totalCount { diff += (net.grads[i] - single.grads[i]) * (net.grads[i] - single.grads[i]) }
                    XCTAssertLessThan(diff.squareRoot() / norm, 1e-12, "\(cell) \(objective) threads \(threads) gradients")
                }
            }
        }
    }

    /// Gradients accumulate over micro-batches (backward adds), batches smaller
    /// than the thread count leave replicas idle, and a second step reuses the
    /// replicas' buffers without leftovers of the first.
    func testAccumulationAndSmallBatches() {
        let c = NetworkTests.small(.faconvlstm, objective: .forecast)
        let single = Network<Double>(config: c, maxSamples: 4, steps: 4, height: 5, width: 5)
        let net = ThreadedNetwork<Double>(config: c, maxSamples: 4, steps: 4, height: 5, width: 5, threads: 4)
        single.initialize(seed: 4)
        net.params.update(fromContentsOf: single.params)
        let batches = [4, 1, 3].enumerated().map { Batch<Double>.random(samples: $1, steps: 4, channels: 3, height: 5, width: 5, seed: UInt64(10 + $0)) }
        for _ in 0 ..< 2 {
            single.zeroGradients(); net.zeroGradients()
            for b in batches {
                let expected = single.forward(b)
                XCTAssertEqual(net.forward(b), expected, accuracy: 1e-12 * expected)
                single.backward(scale: 1)
                net.backward(scale: 1)
            }
            let norm = single.grads.reduce(0) { $0 + $1 * $1 }.squareRoot()
            var diff = 0.0
            for i in 0 ..< net.layout.totalCount { diff += (net.grads[i] - single.grads[i]) * (net.grads[i] - single.grads[i]) }
            XCTAssertLessThan(diff.squareRoot() / norm, 1e-12)
        }
    }

    /// The memory estimate with threads counts what the replicas allocate plus
    /// the sub-batches and the gathered prediction.
    func testMemoryEstimateWithThreads() {
        for cell in ModelConfig.Cell.allCases {
            let c = NetworkTests.small(cell, objective: .forecast)
            for threads in [1, 2, 3] {
                let net = ThreadedNetwork<Float>(config: c, maxSamples: 5, steps: 6, height: 7, width: 4, threads: threads)
                let m = MemoryEstimate(config: c, samples: 5, steps: 6, height: 7, width: 4, threads: threads)
                XCTAssertEqual(m.activations, net.cacheElements * 4, "\(cell) threads \(threads)")
                let frame = 3 * 5 * 7 * 4
                let buffers = threads > 1 ? (2 * 6 * frame + 5 * frame) * 4 : 0
                XCTAssertEqual(m.scratch, net.scratchElements * 4 + buffers, "\(cell) threads \(threads)")
                XCTAssertEqual(m.gradients, net.layout.totalCount * 4 * threads)
            }
        }
    }
}
