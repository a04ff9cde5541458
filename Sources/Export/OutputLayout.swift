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

import FileIO

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

    // MARK: - Recognising outputs

    /// What a name found in an output directory is, by the rules above (`samtrack track
    /// --overwrite` removes only samtrack's own files).
    public enum Entry: Equatable, Sendable {
        /// masks.jsonl, masks.jsonl.partial, run.json, a palette PNG `<frame>.png`, a logits file
        /// `<frame>_<id>.npy`, or a temporary file an interrupted atomic write left
        /// (`.<name>.tmp-<pid>-<random>`).
        case outputFile
        /// `<id>`: an object's folder of grey PNGs (its files are `<frame>.png`).
        case objectFolder
        /// Anything else.
        case other
    }

    /// Classifies the name `name` of a file (`isDirectory` false) or folder in an output directory.
    public static func classify(_ name: String, isDirectory: Bool) -> Entry {
        if isDirectory {
            return isDecimal(name) && Int(name).map { $0 > 0 && maskFolderName(id: $0) == name } == true ? .objectFolder : .other
        }
        if name == masksJSONLName || name == masksJSONLName + partialSuffix || name == manifestName { return .outputFile }
        if let final = AtomicFile.finalName(ofTemporary: name) { return classify(final, isDirectory: false) }
        if isFramePNGName(name) { return .outputFile }
        if name.hasSuffix(".npy") {
            let parts = name.dropLast(4).split(separator: "_", omittingEmptySubsequences: false)
            if parts.count == 2, let frame = frameNumber(String(parts[0])), let id = Int(parts[1]), id > 0,
               logitsName(frame: frame, id: id) == name {
                return .outputFile
            }
        }
        return .other
    }

    /// True for the name of a file in an object's folder: `<frame %05d>.png`, or the temporary
    /// of one that an interrupted write left.
    public static func isObjectFolderFile(_ name: String) -> Bool {
        isFramePNGName(AtomicFile.finalName(ofTemporary: name) ?? name)
    }

    /// True for `<frame %05d>.png`, the name of a palette PNG or of a grey PNG in an object's folder.
    public static func isFramePNGName(_ name: String) -> Bool {
        guard name.hasSuffix(".png"), let frame = frameNumber(String(name.dropLast(4))) else { return false }
        return framePNGName(frame) == name
    }

    /// The frame of a `%05d` frame name ("00017" -> 17), nil for anything else.
    public static func frameNumber(_ text: String) -> Int? {
        guard isDecimal(text), let frame = Int(text), frameName(frame) == text else { return nil }
        return frame
    }

    private static func isDecimal(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 18 && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
