import Foundation
import NetCDF
import TestSupport
import XCTest

final class NetCDFTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = makeTemporaryDirectory("netcdf") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Every numeric type round-trips exactly through a hyperslab write and
    /// read, in the classic and the NetCDF-4 formats, including a partial slab.
    func testEveryTypeRoundTripsInBothFormats() throws {
        for format in [NetCDFFormat.classic, .classic64, .netcdf4, .netcdf4Classic] {
            let path = "\(dir)/types-\(format.rawValue).nc"
            let f = try NetCDFFile.create(path, format: format)
            try f.root.defineDimension("time", length: nil)
            try f.root.defineDimension("y", length: 3)
            try f.root.defineDimension("x", length: 4)
            try f.root.defineDimension("nchar", length: 8)
            let vf = try f.root.defineVariable("f", type: .float, dimensions: ["time", "y", "x"])
            let vd = try f.root.defineVariable("d", type: .double, dimensions: ["y", "x"])
            let vs = try f.root.defineVariable("s", type: .short, dimensions: ["y", "x"])
            let vi = try f.root.defineVariable("i", type: .int, dimensions: ["y", "x"])
            let vb = try f.root.defineVariable("b", type: .byte, dimensions: ["y", "x"])
            let vc = try f.root.defineVariable("c", type: .char, dimensions: ["nchar"])
            let fl = (0 ..< 24).map { Float($0) * 0.37 - 3.1 }
            let db = (0 ..< 12).map { Double($0) / 7.0 + 1e10 }
            let sh = (0 ..< 12).map { Int16($0 * 2700 - 16000) }
            let it = (0 ..< 12).map { Int32($0) * 170_000_003 - 1_000_000_000 }
            let by = (0 ..< 12).map { Int8($0 * 20 - 120) }
            try vf.write(fl, start: [0, 0, 0], count: [2, 3, 4])  // extends the unlimited dimension
            try vd.writeAll(db)
            try vs.writeAll(sh)
            try vi.writeAll(it)
            try vb.writeAll(by)
            try vc.writeChars(Array("abc de\0\0".utf8), start: [0], count: [8])
            try f.close()

            let g = try NetCDFFile.open(path)
            XCTAssertEqual(g.format, format)
            XCTAssertEqual(try g.root.variable("f").shape(), [2, 3, 4])
            XCTAssertEqual(try g.root.dimension(named: "time")?.isUnlimited, true)
            XCTAssertEqual(try g.root.dimension(named: "y")?.isUnlimited, false)
            XCTAssertEqual(try g.root.variable("f").readAll(Float.self), fl)
            XCTAssertEqual(try g.root.variable("d").readAll(Double.self), db)
            XCTAssertEqual(try g.root.variable("s").readAll(Int16.self), sh)
            XCTAssertEqual(try g.root.variable("i").readAll(Int32.self), it)
            XCTAssertEqual(try g.root.variable("b").readAll(Int8.self), by)
            XCTAssertEqual(try g.root.variable("c").readText(), "abc de")
            XCTAssertEqual(try g.root.variable("s").type, .short)
            XCTAssertEqual(try g.root.variable("f").dimensionNames, ["time", "y", "x"])
            // Partial slab: time 1, rows 1..2, columns 2..3 (row-major).
            let part = try g.root.variable("f").read(Float.self, start: [1, 1, 2], count: [1, 2, 2])
            XCTAssertEqual(part, [fl[12 + 4 + 2], fl[12 + 4 + 3], fl[12 + 8 + 2], fl[12 + 8 + 3]])
            // NetCDF-C converts on read: shorts read as doubles.
            XCTAssertEqual(try g.root.variable("s").readAll(Double.self), sh.map(Double.init))
            try g.close()
        }
    }

    func testAttributesOfEveryKindRoundTrip() throws {
        let path = "\(dir)/attrs.nc"
        let f = try NetCDFFile.create(path, format: .netcdf4)
        try f.root.defineDimension("x", length: 2)
        let v = try f.root.defineVariable("v", type: .float, dimensions: ["x"])
        let attrs: [String: NetCDFAttribute] = [
            "units": .text("K"), "count": .ints([3]), "big": .int64s([Int64(1) << 40, -5]),
            "scale": .floats([0.5]), "range": .doubles([-1.5, 2.25]), "flags": .bytes([1, -2]),
            "shorts": .shorts([-7, 9]),
        ]
        for (k, a) in attrs { try v.setAttribute(k, a) }
        try f.root.setAttribute("title", .text("tést ünïcode"))
        try f.root.setAttribute("dilations", .ints([1, 2, 4]))
        try v.writeAll([Float(1), 2])
        try f.close()

        let g = try NetCDFFile.open(path)
        let got = try g.root.variable("v").attributes()
        XCTAssertEqual(got, attrs)
        XCTAssertEqual(try g.root.attribute("title")?.text, "tést ünïcode")
        XCTAssertEqual(try g.root.attribute("dilations"), .ints([1, 2, 4]))
        XCTAssertNil(try g.root.attribute("absent"))
        XCTAssertEqual(try g.root.variable("v").attribute("range")?.numbers, [-1.5, 2.25])
    }

    func testGroupsHoldTheirOwnVariablesAndAttributes() throws {
        let path = "\(dir)/groups.nc"
        let f = try NetCDFFile.create(path, format: .netcdf4)
        try f.root.setAttribute("format_version", .ints([1]))
        for (gi, name) in ["params", "adam_m"].enumerated() {
            let g = try f.root.defineGroup(name)
            try g.setAttribute("cell", .text("faconvlstm-\(gi)"))
            try g.defineDimension("n", length: 3)
            let v = try g.defineVariable("layers.0.w", type: .float, dimensions: ["n"], fletcher32: true)
            try v.writeAll([Float(gi), 1, 2])
        }
        try f.close()

        let r = try NetCDFFile.open(path)
        XCTAssertEqual(try r.root.groups().map(\.path), ["/params", "/adam_m"])
        let m = try XCTUnwrap(try r.root.group(named: "adam_m"))
        XCTAssertEqual(try m.attribute("cell")?.text, "faconvlstm-1")
        XCTAssertEqual(try m.variable("layers.0.w").readAll(Float.self), [1, 1, 2])
        XCTAssertTrue(try m.variable("layers.0.w").hasFletcher32())
        XCTAssertNil(try r.root.group(named: "adam_v"))
        XCTAssertNil(try r.root.findVariable("layers.0.w"))
    }

    /// Fletcher32: flipping one byte of the stored data must make the read fail.
    func testFletcher32DetectsACorruptedByte() throws {
        let path = "\(dir)/sum.nc"
        let f = try NetCDFFile.create(path, format: .netcdf4)
        try f.root.defineDimension("n", length: 256)
        let v = try f.root.defineVariable("w", type: .int, dimensions: ["n"], fletcher32: true)
        // A distinctive pattern we can find in the file.
        let values = (0 ..< 256).map { Int32(0x5A5A_0000) | Int32($0) }
        try v.writeAll(values)
        try f.close()
        XCTAssertEqual(try NetCDFFile.open(path).root.variable("w").readAll(Int32.self), values)

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Little-endian 0x5A5A0080 (value 128) is 80 00 5A 5A.
        let needle: [UInt8] = [0x80, 0x00, 0x5A, 0x5A]
        let at = try XCTUnwrap((0 ..< bytes.count - 4).first { Array(bytes[$0 ..< $0 + 4]) == needle }, "data not found in file")
        bytes[at] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let g = try NetCDFFile.open(path)
        XCTAssertThrowsError(try g.root.variable("w").readAll(Int32.self)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix(path) && text.contains("'w'"), text)
        }
    }

    func testDeflateAndChunkingStoreTheSameValues() throws {
        let path = "\(dir)/z.nc"
        let f = try NetCDFFile.create(path, format: .netcdf4)
        try f.root.defineDimension("t", length: nil)
        try f.root.defineDimension("x", length: 1000)
        let v = try f.root.defineVariable("v", type: .float, dimensions: ["t", "x"], chunks: [1, 1000], deflate: 4, fletcher32: true)
        let vals = (0 ..< 5000).map { Float($0 % 17) }
        try v.write(vals, start: [0, 0], count: [5, 1000])
        try f.close()
        XCTAssertEqual(try NetCDFFile.open(path).root.variable("v").readAll(Float.self), vals)
        // Compressed: far smaller than the 20 kB of raw floats.
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertLessThan(size, 15_000)
    }

    func testErrorsNameFileVariableAndNetCDFMessage() throws {
        XCTAssertThrowsError(try NetCDFFile.open("\(dir)/absent.nc")) { e in
            XCTAssertEqual("\(e)", "\(dir)/absent.nc: cannot open: no such file")
        }
        let junk = "\(dir)/junk.nc"
        try Data("this is not netcdf".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try NetCDFFile.open(junk)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(junk): cannot open: NetCDF: "), "\(e)")
        }
        let path = "\(dir)/e.nc"
        let f = try NetCDFFile.create(path, format: .classic)
        try f.root.defineDimension("x", length: 3)
        let v = try f.root.defineVariable("v", type: .float, dimensions: ["x"])
        try v.writeAll([Float(1), 2, 3])
        XCTAssertThrowsError(try v.read(Float.self, start: [2], count: [4])) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(path): variable 'v': read [2:6]: NetCDF: "), "\(e)")
        }
        XCTAssertThrowsError(try f.root.variable("nope")) { e in
            XCTAssertEqual("\(e)", "\(path): variable 'nope': find variable: no such variable")
        }
        try f.close()
        XCTAssertThrowsError(try v.readAll(Float.self)) { e in XCTAssertTrue("\(e)".contains("file is closed"), "\(e)") }
    }

    /// Concurrent readers and a writer on other files: the process-wide lock
    /// keeps NetCDF-C (not thread-safe) consistent.
    func testConcurrentUseFromSeveralThreads() throws {
        let path = "\(dir)/shared.nc"
        let f = try NetCDFFile.create(path, format: .netcdf4)
        try f.root.defineDimension("x", length: 4096)
        let vals = (0 ..< 4096).map { Float($0) }
        try f.root.defineVariable("v", type: .float, dimensions: ["x"]).writeAll(vals)
        try f.close()
        let reader = try NetCDFFile.open(path)
        let v = try reader.root.variable("v")
        let failures = LockedCounter()
        let dirCopy = dir
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for k in 0 ..< 20 {
                do {
                    if i % 2 == 0 {
                        let got = try v.read(Float.self, start: [k * 10], count: [100])
                        if got != Array(vals[k * 10 ..< k * 10 + 100]) { failures.add() }
                    } else {
                        let w = try NetCDFFile.create("\(dirCopy)/w\(i)-\(k).nc", format: .netcdf4)
                        try w.root.defineDimension("x", length: 10)
                        try w.root.defineVariable("v", type: .double, dimensions: ["x"]).writeAll([Double](repeating: Double(k), count: 10))
                        try w.close()
                    }
                } catch { failures.add() }
            }
        }
        XCTAssertEqual(failures.value, 0)
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
