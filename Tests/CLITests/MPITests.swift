import XCTest
import TestSupport

final class MPITests: XCTestCase {
    func testCollectivesOnOneTwoAndThreeRanks() throws {
        XCTAssertTrue(FAConvLSTMBinary.exists, "release binary missing at \(FAConvLSTMBinary.path): run scripts/test.sh")
        let single = FAConvLSTMBinary.run(["mpi-selftest"], timeout: 60)
        XCTAssertEqual(single.status, 0, single.output)
        XCTAssertTrue(single.stdout.contains("rank 0/1"), single.output)
        for n in [2, 3] {
            let r = FAConvLSTMBinary.mpirun(ranks: n, ["mpi-selftest"], timeout: 120)
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertEqual(r.stdout.components(separatedBy: ": ok").count - 1, n, r.output)
        }
    }
}
