import XCTest
import Model

final class ParameterLayoutTests: XCTestCase {
    /// Default FAConvLSTM stack (V 4, L 2, Ch 32, k 3, r 16, q 4, dk 8, de 16), counted by hand from MODEL.md's table.
    func testFAConvLSTMDefaultCountMatchesHandComputed() {
        let c = ModelConfig()
        let layout = ParameterLayout(config: c)
        // layer 0: wx 16*4 + wh 16*32 + b 16 + dw 3*16*9 + mix.b 16 + se.w1 4*16 + b1 4 + w2 16*4 + b2 16
        //          + gates.w 128*16 + gates.b 128 + peep 3*32 + wq 8*32 + wk 8*32 + wv 32*32 + wo 32*32 + gamma 1
        let layer0 = 64 + 512 + 16 + 432 + 16 + 64 + 4 + 64 + 16 + 2048 + 128 + 96 + 256 + 256 + 1024 + 1024 + 1
        let layer1 = layer0 - 64 + 16 * 32
        // head: embed 16*32 + 16, tattn 3*256, film 2*32*16, decoder 4*32 + 4
        let head = 512 + 16 + 768 + 1024 + 128 + 4
        XCTAssertEqual(layout.layerRanges[0].count, layer0)
        XCTAssertEqual(layout.layerRanges[1].count, layer1)
        XCTAssertEqual(layout.headRange.count, head)
        XCTAssertEqual(layout.totalCount, layer0 + layer1 + head)
        XCTAssertEqual(layout.entry(named: "layers.1.bottleneck.wx")?.shape, [16, 32])
        XCTAssertEqual(layout.entry(named: "layers.0.mix.dw2")?.shape, [16, 3, 3])
    }

    func testConvLSTMDefaultCountMatchesHandComputed() {
        var c = ModelConfig()
        c.cell = .convlstm
        let layout = ParameterLayout(config: c)
        let layer0 = 128 * 4 * 9 + 128 * 32 * 9 + 128
        let layer1 = 128 * 32 * 9 + 128 * 32 * 9 + 128
        XCTAssertEqual(layout.layerRanges[0].count, layer0)
        XCTAssertEqual(layout.layerRanges[1].count, layer1)
        XCTAssertEqual(layout.entry(named: "layers.0.conv.wx")?.shape, [128, 4, 3, 3])
    }

    func testInitIsPureFunctionOfSeedAndName() {
        let layout = ParameterLayout(config: ModelConfig())
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: layout.totalCount)
        let b = UnsafeMutableBufferPointer<Double>.allocate(capacity: layout.totalCount)
        defer { a.deallocate(); b.deallocate() }
        layout.initialize(a, seed: 7)
        layout.initialize(b, seed: 7)
        for i in 0 ..< layout.totalCount { XCTAssertEqual(a[i], Float(b[i])) }
        let fb = layout.entry(named: "layers.0.gates.b")!
        XCTAssertEqual(a[fb.offset + 31], 0)
        XCTAssertEqual(a[fb.offset + 32], 1)
        XCTAssertEqual(a[fb.offset + 64], 0)
        let wx = layout.entry(named: "layers.0.bottleneck.wx")!
        let bound = Float((6.0 / Double(4 + 32 + 16)).squareRoot())
        XCTAssertTrue(a[wx.range].allSatisfy { abs($0) < bound })
        XCTAssertTrue(a[wx.range].contains { abs($0) > bound * 0.5 })
    }
}
