// VectorMath: SIMD exp, erf, tanh, sigmoid used by softmax and the activations.
//
// Accuracy: exp has a relative error below 2e-7 over [-87, 88]; GELU is within 8e-7 of the exact
// erf form (a rational erf fitted for it, `Tools/reference/fit_gelu_erf.py`); both are far inside
// the kernels' 1e-5 parity tolerance.

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

/// Exact GELU lane-wise, x * (1 + erf(x / sqrt 2)) / 2, within 8e-7 of it (absolute; relative
/// above 1).
///
/// erf(z) = z P(z^2) / Q(z^2) on |z| <= 4 (z clamped there: erf(4) is 1 in fp32), P of degree 6
/// and Q of degree 5, a rational fit made for this function (`Tools/reference/fit_gelu_erf.py`:
/// erf's absolute error below 3e-7 in fp32), every multiply-add fused, the result clamped to
/// [-1, 1] and exactly +-1 at the clamp (so GELU is x or 0 beyond |x| = 4 sqrt 2, as the exact form
/// is in fp32); then x/2 + x/2 erf fused. Half the operations of an erfc-and-exp form and no exp: GELU
/// runs on every Hiera MLP's hidden layer. Clamps compare and replace, so a NaN stays NaN.
/// CAVX2's `st_avx2_gelu_twin` performs the same operations (fused where these are) and gives
/// the same bits; this loop is its reference (on a CPU without FMA, `addingProduct` is a
/// correctly rounded library call: the same bits).
@inlinable @inline(__always)
public func vectorGelu(_ v: FloatVector) -> FloatVector {
    var z = v * 0.707_106_781_186_547_6
    z = z.replacing(with: -4, where: z .< -4)
    z = z.replacing(with: 4, where: z .> 4)
    let s = z * z
    var p = FloatVector(repeating: -1.366_435_054e-8)
    p = FloatVector(repeating: 4.780_045_401e-6).addingProduct(p, s)
    p = FloatVector(repeating: 3.826_751_490e-4).addingProduct(p, s)
    p = FloatVector(repeating: 3.839_541_692e-3).addingProduct(p, s)
    p = FloatVector(repeating: 5.433_239_415e-2).addingProduct(p, s)
    p = FloatVector(repeating: 1.847_120_076e-1).addingProduct(p, s)
    p = FloatVector(repeating: 1.128_379_226).addingProduct(p, s)
    var q = FloatVector(repeating: 6.400_459_097e-5)
    q = FloatVector(repeating: 1.309_558_633e-3).addingProduct(q, s)
    q = FloatVector(repeating: 1.545_348_205e-2).addingProduct(q, s)
    q = FloatVector(repeating: 1.138_266_176e-1).addingProduct(q, s)
    q = FloatVector(repeating: 4.970_302_880e-1).addingProduct(q, s)
    q = FloatVector(repeating: 1).addingProduct(q, s)
    var erf = (z * p) / q
    erf = erf.replacing(with: 1, where: (erf .> 1) .| (z .== 4))
    erf = erf.replacing(with: -1, where: (erf .< -1) .| (z .== -4))
    let half = 0.5 * v
    return half.addingProduct(half, erf)
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
