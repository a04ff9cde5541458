// OutputLayout: where each output format puts its files (DESIGN §6).
//
//   rle            DIR/masks.jsonl                    (DIR/masks.jsonl.partial while writing)
//   png            DIR/<id>/<frame %05d>.png          8-bit grey, 0 or 255
//   palette        DIR/<frame %05d>.png               8-bit palette-indexed, pixel = object id
//   --save-logits  DIR/<frame %05d>_<id>.npy          float32 low-res logits
//
// Exports (`MaskExport`, the daemon's GET .../masks): `masks.jsonl`, `masks_coco.json` (its
// images are named `<frame %05d>.jpg`), `masks_png.zip` holding `<id>/<frame %05d>.png` and
// `masks_palette.zip` holding `<frame %05d>.png`: the same names as the folders above, with an
// empty DIR.
//
// Frame numbers are zero-padded to five digits as printf's %05d does (frame 123456 -> "123456").

/// File names of the output formats: the one place they are decided.
public enum OutputLayout {
    /// `masks.jsonl`.
    public static let masksJSONLName = "masks.jsonl"
    /// Suffix of the masks.jsonl being written: `masks.jsonl.partial`.
    public static let partialSuffix = ".partial"
    /// The `run.json` manifest beside a run's outputs.
    public static let manifestName = "run.json"

    /// `<id>`, the folder of one object's grey PNGs.
    public static func maskFolderName(id: Int) -> String { String(id) }

    /// `<frame %05d>.png`: a grey PNG inside its object's folder, or a palette PNG.
    public static func framePNGName(_ frame: Int) -> String { frameName(frame) + ".png" }

    /// `<frame %05d>_<id>.npy`.
    public static func logitsName(frame: Int, id: Int) -> String { "\(frameName(frame))_\(id).npy" }

    /// `<frame %05d>.jpg`: the `file_name` of a frame's image in a COCO export (the frame as a
    /// JPEG, as DAVIS's JPEGImages folders and `ffmpeg -i VIDEO -start_number 0 %05d.jpg` name it).
    public static func cocoImageName(_ frame: Int) -> String { frameName(frame) + ".jpg" }

    /// The file name of an export: `masks.jsonl`, `masks_coco.json`, `masks_png.zip`,
    /// `masks_palette.zip` (a download's name; inside the zips, `maskPNG` / `palettePNG` with an
    /// empty DIR).
    public static func exportName(_ format: MaskExportFormat) -> String {
        switch format {
        case .jsonl: return masksJSONLName
        case .coco: return "masks_coco.json"
        case .png: return "masks_png.zip"
        case .palette: return "masks_palette.zip"
        }
    }

    /// `frame` as printf's `%05d`.
    public static func frameName(_ frame: Int) -> String {
        let digits = String(frame.magnitude)
        let padded = digits.count < 5 ? String(repeating: "0", count: (frame < 0 ? 4 : 5) - digits.count) + digits : digits
        return frame < 0 ? "-" + padded : padded
    }

    /// DIR/masks.jsonl.
    public static func masksJSONL(in directory: String) -> String {
        join(directory, masksJSONLName)
    }

    /// DIR/<id>, the folder of one object's grey PNGs.
    public static func maskFolder(in directory: String, id: Int) -> String {
        join(directory, maskFolderName(id: id))
    }

    /// DIR/<id>/<frame %05d>.png (`<id>/<frame %05d>.png` for an empty DIR: the entry of a png zip).
    public static func maskPNG(in directory: String, id: Int, frame: Int) -> String {
        join(maskFolder(in: directory, id: id), framePNGName(frame))
    }

    /// DIR/<frame %05d>.png (`<frame %05d>.png` for an empty DIR: the entry of a palette zip).
    public static func palettePNG(in directory: String, frame: Int) -> String {
        join(directory, framePNGName(frame))
    }

    /// DIR/<frame %05d>_<id>.npy.
    public static func logits(in directory: String, frame: Int, id: Int) -> String {
        join(directory, logitsName(frame: frame, id: id))
    }

    public static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
