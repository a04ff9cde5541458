// COCOExport: the text of a COCO instances file built from masks.jsonl records, one piece at a
// time so that `MaskExport` can stream it (only the short image entries wait for the end).
//
//   {"categories": [{"id": 1, "name": "object", "supercategory": "object"}], "annotations": [
//   {"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [H, W], "counts": "..."},
//    "area": N, "bbox": [x, y, w, h], "iscrowd": 0, "score": 3.2, "track_id": 1},
//   ...
//   ], "images": [
//   {"id": 1, "file_name": "00000.jpg", "width": W, "height": H, "frame_index": 0},
//   ...
//   ]}
//
// One image per frame, id = frame index + 1 (COCO ids start at 1; `frame_index` keeps the 0-based
// frame), `file_name` from `OutputLayout.cocoImageName`. One annotation per object per frame, ids
// 1, 2, ... in file order; `segmentation` is COCO compressed RLE (column-major, the counts string
// of masks.jsonl), `area` its pixel count and `bbox` its tight [x, y, w, h] (from the RLE, as
// pycocotools' area / toBbox compute them; [0, 0, 0, 0] when empty), `score` the object-presence
// logit as in masks.jsonl, `track_id` the object id. Objects are tracks, not classes: every
// annotation has the one category "object" (id 1) and `track_id` tells them apart (the layout of
// class-agnostic video instance files). The keys of the top object come in stream order
// (categories, annotations, images); JSON readers do not depend on it. Separators are Python's
// `json.dumps` defaults, one entry per line.

/// Pieces of the COCO instances text (see the file comment).
enum COCOText {
    /// The one category, id 1.
    static let categoryID = 1

    /// Everything before the first annotation.
    static let header = "{\"categories\": [{\"id\": \(categoryID), \"name\": \"object\", \"supercategory\": \"object\"}], \"annotations\": ["

    /// Between the last annotation and the first image.
    static let middle = "\n], \"images\": ["

    /// After the last image.
    static let trailer = "\n]}\n"

    /// The image id of `frame`.
    static func imageID(frame: Int) -> Int { frame + 1 }

    /// One image entry.
    static func image(frame: Int, width: Int, height: Int) -> String {
        var text = "{\"id\": \(imageID(frame: frame)), \"file_name\": "
        appendJSONString(OutputLayout.cocoImageName(frame), to: &text)
        text += ", \"width\": \(width), \"height\": \(height), \"frame_index\": \(frame)}"
        return text
    }

    /// Appends one annotation entry for `object` on `frame`.
    static func appendAnnotation(id: Int, frame: Int, object: MaskRecord, to text: inout String) {
        let rle = object.rle
        let box = rle.boundingBox
        text += "{\"id\": \(id), \"image_id\": \(imageID(frame: frame)), \"category_id\": \(categoryID), "
        text += "\"segmentation\": {\"size\": [\(rle.height), \(rle.width)], \"counts\": "
        appendJSONString(rle.compressed, to: &text)
        text += "}, \"area\": \(rle.area), \"bbox\": [\(box.x), \(box.y), \(box.width), \(box.height)], "
        text += "\"iscrowd\": 0, \"score\": \(jsonNumber(object.score)), \"track_id\": \(object.id)}"
    }
}
