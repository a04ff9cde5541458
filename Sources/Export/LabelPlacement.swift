// LabelPlacement: where an overlay draws each object's id, so that the label sits on its own
// object rather than at its bounding box's corner (which can lie on background or on another
// object).
//
// A label goes inside the object's *visible* part: its pixels that no object painted above it
// covers (`ObjectMask.paintingOrder`, the overlap rule). Its centre is that part's pole of
// inaccessibility on the pixel grid: the pixel farthest from the part's edge in chessboard
// distance (the largest square centred there stays inside; the frame's border counts as edge),
// found with the two-pass distance transform; ties go to the pixel nearest the part's centroid,
// then the first in row order. The label box is centred there and moved inside the frame. An
// object covered completely gets no label.
//
// Cost: one pass over each mask's bounding box to paint the owner map, and two over it for the
// distance transform, per frame.

/// Computes label positions (see the file comment).
public enum LabelPlacement {
    /// The label box of each object (same order as `objects`; nil for an object with no visible
    /// pixel), for labels of `sizes[i]` = (width, height) pixels on a `width` x `height` frame.
    /// Every mask must be `width` x `height`.
    public static func boxes(objects: [ObjectMask], sizes: [(width: Int, height: Int)], width: Int, height: Int) -> [BoundingBox?] {
        precondition(sizes.count == objects.count, "one label size per object")
        // owner[p]: index of the object pixel p shows, -1 for background.
        var owner = [Int32](repeating: -1, count: width * height)
        var boxes = [BoundingBox](repeating: .empty, count: objects.count)
        for index in ObjectMask.paintingOrder(objects) {
            let mask = objects[index].mask
            let box = mask.boundingBox
            boxes[index] = box
            guard box.width > 0 else { continue }
            mask.withUnsafeBufferPointer { m in
                for y in box.y..<(box.y + box.height) {
                    for x in box.x..<(box.x + box.width) where m[y * width + x] != 0 { owner[y * width + x] = Int32(index) }
                }
            }
        }
        return objects.indices.map { index in
            guard boxes[index].width > 0,
                  let (cx, cy) = pole(of: Int32(index), owner: owner, frameWidth: width, box: boxes[index]) else { return nil }
            let size = sizes[index]
            let left = max(0, min(cx - size.width / 2, width - size.width))
            let top = max(0, min(cy - size.height / 2, height - size.height))
            return BoundingBox(x: left, y: top, width: size.width, height: size.height)
        }
    }

    /// The pole of inaccessibility of the pixels of `box` whose owner is `index`, or nil if none.
    static func pole(of index: Int32, owner: [Int32], frameWidth: Int, box: BoundingBox) -> (x: Int, y: Int)? {
        let (w, h) = (box.width, box.height)
        var distance = [Int32](repeating: 0, count: w * h)
        var count = 0, sumX = 0, sumY = 0
        // Pass 1, forward: 1 + min of the left, upper-left, upper and upper-right neighbours.
        for y in 0..<h {
            for x in 0..<w where owner[(box.y + y) * frameWidth + box.x + x] == index {
                count += 1
                sumX += x
                sumY += y
                func at(_ xx: Int, _ yy: Int) -> Int32 { xx < 0 || yy < 0 || xx >= w ? 0 : distance[yy * w + xx] }
                distance[y * w + x] = 1 + min(at(x - 1, y), at(x - 1, y - 1), at(x, y - 1), at(x + 1, y - 1))
            }
        }
        guard count > 0 else { return nil }
        // Pass 2, backward: the right, lower-right, lower and lower-left neighbours.
        for y in stride(from: h - 1, through: 0, by: -1) {
            for x in stride(from: w - 1, through: 0, by: -1) where distance[y * w + x] > 0 {
                func at(_ xx: Int, _ yy: Int) -> Int32 { xx < 0 || xx >= w || yy >= h ? 0 : distance[yy * w + xx] }
                distance[y * w + x] = min(distance[y * w + x], 1 + min(at(x + 1, y), at(x + 1, y + 1), at(x, y + 1), at(x - 1, y + 1)))
            }
        }
        let cx = Double(sumX) / Double(count), cy = Double(sumY) / Double(count)
        var best = (x: 0, y: 0), bestDistance: Int32 = 0, bestOffset = Double.infinity
        for y in 0..<h {
            for x in 0..<w {
                let d = distance[y * w + x]
                guard d >= bestDistance, d > 0 else { continue }
                let offset = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
                if d > bestDistance || offset < bestOffset {
                    best = (x, y)
                    bestDistance = d
                    bestOffset = offset
                }
            }
        }
        return (box.x + best.x, box.y + best.y)
    }
}
