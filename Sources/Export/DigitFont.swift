// DigitFont: a 5 x 7 pixel bitmap font for the digits 0-9, used to label objects in overlays.
//
// Each glyph is 7 rows, top first; each row holds 5 bits, the leftmost pixel in bit 4.

/// The built-in 5 x 7 digit font.
public enum DigitFont {
    /// Glyph width in pixels (before scaling).
    public static let glyphWidth = 5
    /// Glyph height in pixels (before scaling).
    public static let glyphHeight = 7
    /// Empty columns between glyphs.
    public static let spacing = 1

    private static let glyphs: [[UInt8]] = [
        [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],  // 0
        [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],  // 1
        [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],  // 2
        [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],  // 3
        [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],  // 4
        [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],  // 5
        [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],  // 6
        [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],  // 7
        [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],  // 8
        [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],  // 9
    ]

    /// Whether pixel (x, y) of `digit`'s glyph is ink (x in 0..<5, y in 0..<7).
    public static func isInk(digit: Int, x: Int, y: Int) -> Bool {
        precondition((0...9).contains(digit), "DigitFont has glyphs for 0...9, got \(digit)")
        return glyphs[digit][y] >> (glyphWidth - 1 - x) & 1 == 1
    }

    /// Size in unscaled pixels of `text` (digits only): (width, height).
    public static func size(of text: String) -> (width: Int, height: Int) {
        let n = text.count
        return (n == 0 ? 0 : n * (glyphWidth + spacing) - spacing, glyphHeight)
    }

    /// Calls `ink(x, y)` for every ink pixel of `text` (digits) at `scale`, relative to the
    /// text's top-left corner. Non-digit characters are skipped (left blank).
    public static func render(_ text: String, scale: Int, ink: (_ x: Int, _ y: Int) -> Void) {
        for (position, character) in text.enumerated() {
            guard let digit = character.wholeNumberValue, (0...9).contains(digit) else { continue }
            let left = position * (glyphWidth + spacing) * scale
            for gy in 0..<glyphHeight {
                for gx in 0..<glyphWidth where isInk(digit: digit, x: gx, y: gy) {
                    for sy in 0..<scale {
                        for sx in 0..<scale { ink(left + gx * scale + sx, gy * scale + sy) }
                    }
                }
            }
        }
    }
}
