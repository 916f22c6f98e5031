import XCTest
import Kernels

final class RNGTests: XCTestCase {
    func testPermutationIsAPermutationAndPure() {
        let p = seededPermutation(count: 1000, seed: 3, stream: 5)
        XCTAssertEqual(Set(p).count, 1000)
        XCTAssertEqual(p, seededPermutation(count: 1000, seed: 3, stream: 5))
        XCTAssertNotEqual(p, seededPermutation(count: 1000, seed: 3, stream: 6))
    }

    func testUniformMeanIsHalf() {
        var r = CounterRNG(seed: 1)
        var s = 0.0
        for _ in 0 ..< 100_000 { s += r.nextUnitDouble() }
        XCTAssertEqual(s / 100_000, 0.5, accuracy: 0.01)
    }
}
