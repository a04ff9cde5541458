// DAVISPalette: the 256-colour palette of the DAVIS 2017 annotations (the PASCAL VOC colour map).
//
// Entry i spreads the bits of i over the colour channels from the high bit down: bit 0 of i goes
// to bit 7 of R, bit 1 to bit 7 of G, bit 2 to bit 7 of B, bit 3 to bit 6 of R, and so on.
// Index 0 is black, 1 = (128, 0, 0), 2 = (0, 128, 0), 3 = (128, 128, 0), 4 = (0, 0, 128), ...

/// An RGB colour, 8 bits per channel.
public struct RGBColor: Equatable, Hashable, Sendable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }
}

/// The DAVIS 2017 palette: object id -> colour.
public enum DAVISPalette {
    /// Colour of palette index `index` (0...255).
    public static func color(index: Int) -> RGBColor {
        precondition((0...255).contains(index), "palette index \(index) is outside 0...255")
        var r = 0, g = 0, b = 0
        var bits = index
        for shift in stride(from: 7, through: 0, by: -1) {
            r |= (bits & 1) << shift
            g |= ((bits >> 1) & 1) << shift
            b |= ((bits >> 2) & 1) << shift
            bits >>= 3
        }
        return RGBColor(red: UInt8(r), green: UInt8(g), blue: UInt8(b))
    }

    /// The colour drawn for object `id` (a positive integer): palette entry `id` for ids up to
    /// 255; larger ids cycle through entries 1...255 (never black).
    public static func color(objectID id: Int) -> RGBColor {
        precondition(id > 0, "object ids are positive, got \(id)")
        return colors[(id - 1) % 255 + 1]
    }

    /// All 256 entries.
    public static let colors: [RGBColor] = (0..<256).map { color(index: $0) }

    /// The palette as 768 bytes R, G, B, R, G, B, ... (the layout `PNGWriter.encodeIndexed` takes).
    public static let bytes: [UInt8] = colors.flatMap { [$0.red, $0.green, $0.blue] }
}
