// HoleFilling: fills small background holes in mask logits, as the official CUDA post-processing
// (`fill_holes_in_mask_scores`) does: background pixels (logit <= 0) that form an 8-connected
// component of at most `maxArea` pixels get the logit 0.1 (foreground).

/// CPU hole filling for low-res mask logits.
public enum HoleFilling {
    /// Fills holes of at most `maxArea` pixels in each [height, width] plane of `logits`, in place.
    /// `planes` masks are stored one after another.
    public static func fill(_ logits: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int, maxArea: Int) {
        guard maxArea > 0 else { return }
        let count = height * width
        var labels = [Int32](repeating: 0, count: count)
        var stack: [Int] = []
        var component: [Int] = []
        stack.reserveCapacity(count)
        for plane in 0..<planes {
            let mask = logits + plane * count
            for i in 0..<count { labels[i] = 0 }
            var next: Int32 = 0
            for start in 0..<count where mask[start] <= 0 && labels[start] == 0 {
                next += 1
                labels[start] = next
                stack.append(start)
                component.removeAll(keepingCapacity: true)
                while let p = stack.popLast() {
                    component.append(p)
                    let y = p / width, x = p % width
                    for dy in -1...1 {
                        let ny = y + dy
                        if ny < 0 || ny >= height { continue }
                        for dx in -1...1 where dy != 0 || dx != 0 {
                            let nx = x + dx
                            if nx < 0 || nx >= width { continue }
                            let q = ny * width + nx
                            if mask[q] <= 0 && labels[q] == 0 {
                                labels[q] = next
                                stack.append(q)
                            }
                        }
                    }
                }
                if component.count <= maxArea {
                    for p in component { mask[p] = 0.1 }
                }
            }
        }
    }
}
