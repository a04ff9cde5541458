// FrameNumbering: the numbers people and outputs use for a source's frames, the one owner of the
// rule. A directory or glob of images whose file names number them (`ImageSequence`: 00017.jpg,
// 00018.jpg, ...) is numbered by those numbers, so a sequence starting at 00017.jpg starts at
// frame 17 and a gap in the files is a gap in the numbers; everything else (videos, streams,
// image2 patterns such as frames/%05d.jpg, image lists whose names do not number them) is
// numbered by position from 0. Decoding and the trackers always count by position (the index).

/// Frame index (position, from 0) <-> frame number for one source.
public struct FrameNumbering: Sendable, Equatable {
    /// The number of each frame by position; nil: frames are numbered by position.
    public let fileNumbers: [Int]?

    /// Numbered by position (0, 1, 2, ...).
    public static let positional = FrameNumbering(fileNumbers: nil)

    /// Numbers `numbers` (strictly increasing) by position; nil or empty: by position.
    public init(fileNumbers numbers: [Int]?) {
        fileNumbers = numbers?.isEmpty == false ? numbers : nil
    }

    /// The numbering of an image sequence (by file name when its names number every image),
    /// or positional for nil.
    public init(sequence: ImageSequence?) {
        let numbers = sequence?.images.map(\.number)
        self.init(fileNumbers: numbers?.contains(nil) == false ? numbers!.map { $0! } : nil)
    }

    /// True when frames are numbered by position.
    public var isPositional: Bool { fileNumbers == nil }

    /// The number of the frame at `index` (the index itself past the known frames, and for
    /// positional numbering).
    public func number(ofIndex index: Int) -> Int {
        guard let fileNumbers, index >= 0, index < fileNumbers.count else { return index }
        return fileNumbers[index]
    }

    /// The index of the frame numbered `number`, or nil when no frame has that number (for
    /// positional numbering: `number` itself when it is not negative).
    public func index(ofNumber number: Int) -> Int? {
        guard let fileNumbers else { return number >= 0 ? number : nil }
        var low = 0, high = fileNumbers.count
        while low < high {
            let middle = (low + high) / 2
            if fileNumbers[middle] < number { low = middle + 1 } else { high = middle }
        }
        return low < fileNumbers.count && fileNumbers[low] == number ? low : nil
    }

    /// The numbering of the first `count` frames only (a run limited by --max-frames).
    public func prefix(_ count: Int) -> FrameNumbering {
        guard let fileNumbers, count < fileNumbers.count else { return self }
        return FrameNumbering(fileNumbers: Array(fileNumbers.prefix(max(count, 1))))
    }

    /// The numbers for people, e.g. "17...216" or "17...19, 25...30" (at most a few runs, then
    /// "..."); nil for positional numbering.
    public var numbersDescription: String? {
        guard let fileNumbers, let first = fileNumbers.first else { return nil }
        var runs: [(Int, Int)] = [(first, first)]
        for n in fileNumbers.dropFirst() {
            if n == runs[runs.count - 1].1 + 1 { runs[runs.count - 1].1 = n } else { runs.append((n, n)) }
        }
        let shown = runs.prefix(4).map { $0.0 == $0.1 ? "\($0.0)" : "\($0.0)...\($0.1)" }
        return shown.joined(separator: ", ") + (runs.count > 4 ? ", ..." : "")
    }
}
