import ClimateData
import Foundation
import Model
import Training
import XCTest

/// Checkpoints written by another implementation: the PyTorch peer's
/// `write_checkpoint` (scripts/peers/faconv_checkpoint.py, via
/// scripts/crosscheck_checkpoint_peer.py --write-fixtures). The Swift reader
/// must accept them and read back, bit for bit, the values the peer wrote,
/// recomputed here: the spec initialization from seed 5 (the same CounterRNG
/// in both), decoder.b = [1234.5678, -0, 1e-30], m_i = 0.001 i - 0.5,
/// v_i = 0.0001 i in float32.
final class PeerCheckpointTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/checkpoints").path

    func testPeerWrittenCheckpointsLoadBitForBit() throws {
        for (cell, adam) in [(ModelConfig.Cell.faconvlstm, true), (.convlstm, false)] {
            let path = "\(Self.fixtures)/peer-ckpt-\(cell.rawValue).nc"
            var model = Fixtures.model(cell)
            model.seasonPeriodDays = 365
            let s = try CheckpointFile.read(path, expecting: model)
            XCTAssertEqual(s.model, model.resolved)
            let layout = ParameterLayout(config: model)
            var want = [Float](repeating: 0, count: layout.totalCount)
            want.withUnsafeMutableBufferPointer { layout.initialize($0, seed: 5) }
            let b = try XCTUnwrap(layout.entry(named: "decoder.b"))
            want.replaceSubrange(b.range, with: [1234.5678, -0.0, 1e-30])
            XCTAssertEqual(Fixtures.bits(s.parameters), Fixtures.bits(want), "\(cell): parameters")
            if adam {
                let m = try XCTUnwrap(s.moments)
                XCTAssertEqual(Fixtures.bits(m.first), Fixtures.bits((0 ..< want.count).map { Float($0) * 0.001 - 0.5 }))
                XCTAssertEqual(Fixtures.bits(m.second), Fixtures.bits((0 ..< want.count).map { Float($0) * 0.0001 }))
            } else {
                XCTAssertNil(s.moments, "SGD: no moment groups")
            }
            XCTAssertEqual(s.step, 1 << 40 + 1)
            XCTAssertEqual(s.epoch, 7)
            XCTAssertEqual(s.samplesSeen, 1 << 35)
            XCTAssertEqual(s.seed, UInt64(Int64.max))
            XCTAssertEqual(s.worldSize, 4)
            XCTAssertEqual(s.created, "2026-01-02T03:04:05Z")
            XCTAssertEqual(s.softwareVersion, "faconv_torch peer 1")
            XCTAssertTrue(s.config.contains("[model]\ncell = \"\(cell.rawValue)\""), s.config)
            XCTAssertEqual(s.normalization, Normalization(channels: ["t2m", "T@500", "u10"], mean: [280.5, -1.25, 0.0], std: [10.0, 3.5, 1e-3]))
        }
    }
}
