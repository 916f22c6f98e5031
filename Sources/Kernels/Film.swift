// Feature-wise modulation (MODEL.md decoder, step 4):
//   F[c,b,p] = H[c,b,p] (1 + s[c,b]) + sh[c,b]
// Shapes: H, F [C, B, P]; s (scale), sh (shift) [C, B].

/// out = h (1 + scale) + shift, the per-(channel, sample) vectors broadcast over positions.
public func filmForward<T: KernelScalar>(
    _ out: UnsafeMutablePointer<T>, _ h: UnsafePointer<T>, scale: UnsafePointer<T>, shift: UnsafePointer<T>,
    channels: Int, samples: Int, positions: Int
) {
    for cb in 0 ..< channels * samples {
        let g = 1 + scale[cb], s = shift[cb], o = out + cb * positions, x = h + cb * positions
        for i in 0 ..< positions { o[i] = x[i] * g + s }
    }
}

/// dH += dOut (1 + scale);  dScale[c,b] += sum_p dOut h;  dShift[c,b] += sum_p dOut.
/// `dH` nil skips the input gradient.
public func filmBackward<T: KernelScalar>(
    dH: UnsafeMutablePointer<T>?, dScale: UnsafeMutablePointer<T>, dShift: UnsafeMutablePointer<T>,
    dOut: UnsafePointer<T>, h: UnsafePointer<T>, scale: UnsafePointer<T>,
    channels: Int, samples: Int, positions: Int
) {
    for cb in 0 ..< channels * samples {
        let o = cb * positions
        dScale[cb] += dotOf(dOut + o, h + o, positions)
        dShift[cb] += sumOf(dOut + o, positions)
        if let dH {
            let g = 1 + scale[cb], d = dH + o, go = dOut + o
            for i in 0 ..< positions { d[i] += go[i] * g }
        }
    }
}
