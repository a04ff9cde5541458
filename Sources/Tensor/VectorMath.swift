// VectorMath: SIMD exp, erf, tanh, sigmoid used by softmax and the activations.
//
// Accuracy: exp has a relative error below 2e-7 over [-87, 88]; GELU's erf an absolute error
// below 2e-7 (the Numerical Recipes erfc form); both are far inside the kernels' 1e-5 parity
// tolerance.

/// Lane width used by the vectorised loops.
public typealias FloatVector = SIMD16<Float>

@usableFromInline let vectorWidth = FloatVector.scalarCount

/// e^x lane-wise; 0 below -87.33, +inf above 88.72 (inputs in (88.37, 88.72] saturate at e^88.37,
/// a range no kernel here produces: softmax and GELU only take exp of values <= 0).
@inlinable @inline(__always)
public func vectorExp(_ x: FloatVector) -> FloatVector {
    let log2e: Float = 1.442_695_040_888_963_4
    let ln2High: Float = 0.693_359_375
    let ln2Low: Float = -2.121_944_4e-4
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits (no int conversion).
    let magic: Float = 12_582_912
    // Compare + blend, not pointwiseMin/Max: those (IEEE minNum/maxNum) are scalarised lane by lane.
    let clamped = lanewiseMin(lanewiseMax(x, FloatVector(repeating: -87.33)), FloatVector(repeating: 88.37))
    let shifted = clamped * log2e + magic
    let n = shifted - magic
    var r = clamped - n * ln2High
    r = r - n * ln2Low
    // Taylor polynomial of degree 7 for e^r, |r| <= ln2/2 (error ~5e-9 relative).
    var p = FloatVector(repeating: 1.0 / 5040.0)
    p = p * r + Float(1.0 / 720.0)
    p = p * r + Float(1.0 / 120.0)
    p = p * r + Float(1.0 / 24.0)
    p = p * r + Float(1.0 / 6.0)
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    // 2^n from the integer in `shifted`'s low bits: n in [-126, 127].
    let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((integer &+ 127) &<< 23, to: FloatVector.self)
    var result = p * scale
    result.replace(with: FloatVector(repeating: 0), where: x .< -87.33)
    result.replace(with: FloatVector(repeating: .infinity), where: x .> 88.72)
    return result
}

/// Lane-wise maximum. Written as compare + blend: Swift's `pointwiseMax` (IEEE maxNum semantics)
/// is scalarised lane by lane when its result is carried around a loop, ~10x slower.
/// A NaN in `b` is ignored (the comparison is false); rows here never hold NaN.
@inlinable @inline(__always)
public func lanewiseMax(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
    a.replacing(with: b, where: b .> a)
}

/// Lane-wise minimum, as `lanewiseMax` (compare + blend; a NaN in `b` is ignored).
@inlinable @inline(__always)
public func lanewiseMin(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
    a.replacing(with: b, where: b .< a)
}

/// Largest lane, by halving (the standard `.max()` reduction is a scalar loop with NaN checks).
@inlinable @inline(__always)
public func horizontalMax(_ v: FloatVector) -> Float {
    var h8 = v.lowHalf
    h8.replace(with: v.highHalf, where: v.highHalf .> h8)
    var h4 = h8.lowHalf
    h4.replace(with: h8.highHalf, where: h8.highHalf .> h4)
    var h2 = h4.lowHalf
    h2.replace(with: h4.highHalf, where: h4.highHalf .> h2)
    return h2[1] > h2[0] ? h2[1] : h2[0]
}

/// |x| lane-wise (clears the sign bit).
@inlinable @inline(__always)
public func vectorAbs(_ x: FloatVector) -> FloatVector {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: FloatVector.self)
}

/// Exact GELU lane-wise, x * (1 + erf(x / sqrt 2)) / 2, with erf's absolute error below 2e-7.
///
/// erfc(|z|) = t * exp(-z^2 + P(t)), t = 1 / (1 + |z| / 2) (the Numerical Recipes erfc form,
/// fractional error < 1.2e-7), every multiply-add fused; 1 + erf(z) is then 2 - erfc(|z|) for
/// z >= 0 and erfc(|z|) itself below 0 (no cancellation for negative inputs). The exp is
/// VectorMath's for arguments <= 0 with fused steps. CAVX2's `st_avx2_gelu_twin` performs the
/// same operations (fused where these are) and gives the same bits; this loop is its reference
/// (on a CPU without FMA, `addingProduct` is a correctly rounded library call: the same bits).
@inlinable @inline(__always)
public func vectorGelu(_ v: FloatVector) -> FloatVector {
    let z = v * 0.707_106_781_186_547_6
    let a = vectorAbs(z)
    let t = 1 / FloatVector(repeating: 1).addingProduct(FloatVector(repeating: 0.5), a)
    var p = FloatVector(repeating: 0.170_872_77)
    p = FloatVector(repeating: -0.822_152_23).addingProduct(p, t)
    p = FloatVector(repeating: 1.488_515_87).addingProduct(p, t)
    p = FloatVector(repeating: -1.135_203_98).addingProduct(p, t)
    p = FloatVector(repeating: 0.278_868_07).addingProduct(p, t)
    p = FloatVector(repeating: -0.186_288_06).addingProduct(p, t)
    p = FloatVector(repeating: 0.096_784_18).addingProduct(p, t)
    p = FloatVector(repeating: 0.374_091_96).addingProduct(p, t)
    p = FloatVector(repeating: 1.000_023_68).addingProduct(p, t)
    p = FloatVector(repeating: -1.265_512_23).addingProduct(p, t)
    // exp(-a^2 + P) for arguments <= ~0: clamped below at -87.33 (2^-126 there; t makes it vanish).
    let x = lanewiseMax(p.addingProduct(-a, a), FloatVector(repeating: -87.33))
    let magic = FloatVector(repeating: 12_582_912)
    let shifted = magic.addingProduct(x, FloatVector(repeating: 1.442_695_040_888_963_4))
    let n = shifted - magic
    var r = x.addingProduct(-n, FloatVector(repeating: 0.693_359_375))
    r = r.addingProduct(-n, FloatVector(repeating: -2.121_944_4e-4))
    var e = FloatVector(repeating: 1.0 / 5040.0)
    e = FloatVector(repeating: Float(1.0 / 720.0)).addingProduct(e, r)
    e = FloatVector(repeating: Float(1.0 / 120.0)).addingProduct(e, r)
    e = FloatVector(repeating: Float(1.0 / 24.0)).addingProduct(e, r)
    e = FloatVector(repeating: Float(1.0 / 6.0)).addingProduct(e, r)
    e = FloatVector(repeating: 0.5).addingProduct(e, r)
    e = FloatVector(repeating: 1).addingProduct(e, r)
    e = FloatVector(repeating: 1).addingProduct(e, r)
    let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let erfc = t * (e * unsafeBitCast((integer &+ 127) &<< 23, to: FloatVector.self))
    let onePlusErf = (2 - erfc).replacing(with: erfc, where: z .< 0)
    return (0.5 * v) * onePlusErf
}

/// tanh(x) lane-wise, computed as sign(x) * (1 - 2 / (e^{2|x|} + 1)) with a series near 0.
@inlinable @inline(__always)
public func vectorTanh(_ x: FloatVector) -> FloatVector {
    let a = vectorAbs(x)
    let e = vectorExp(2 * a)
    var result = 1 - 2 / (e + 1)
    // Near zero use x - x^3/3 + 2x^5/15 - 17x^7/315 to keep relative precision.
    let small = a .< 0.0625
    if any(small) {
        let x2 = a * a
        var series = FloatVector(repeating: Float(-17.0 / 315.0))
        series = series * x2 + Float(2.0 / 15.0)
        series = series * x2 - Float(1.0 / 3.0)
        series = series * x2 + Float(1)
        result.replace(with: series * a, where: small)
    }
    result.replace(with: -result, where: x .< 0)
    return result
}

/// 1 / (1 + e^-x) lane-wise.
@inlinable @inline(__always)
public func vectorSigmoid(_ x: FloatVector) -> FloatVector {
    1 / (1 + vectorExp(-x))
}

/// Applies a SIMD function to `count` floats from `source` into `destination` (may alias).
@inlinable @inline(__always)
func mapVectorised(
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ count: Int,
    _ function: (FloatVector) -> FloatVector
) {
    var i = 0
    while i + vectorWidth <= count {
        let v = UnsafeRawPointer(source + i).loadUnaligned(as: FloatVector.self)
        UnsafeMutableRawPointer(destination + i).storeBytes(of: function(v), as: FloatVector.self)
        i += vectorWidth
    }
    if i < count {
        var tail = FloatVector(repeating: 0)
        for j in 0..<(count - i) { tail[j] = source[i + j] }
        let out = function(tail)
        for j in 0..<(count - i) { destination[i + j] = out[j] }
    }
}
