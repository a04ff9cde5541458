// TrackPrompts: the prompts of `samtrack track`, from its options and a prompts file, merged into
// one list of `TrackingPrompt`s with at most one prompt per object and frame.
//
//   --box ID[@FRAME]:X1,Y1,X2,Y2      --point ID[@FRAME]:X,Y[,LABEL]   (merged per object and frame)
//   --mask ID[@FRAME]:FILE            one object: the file's non-zero pixels
//   --mask [@FRAME:]FILE              every object a palette (DAVIS) or grey PNG holds: value = id
//   --prompts FILE                    JSON: {"prompts": [...]} in the daemon's prompt schema
//
// Mask pictures are read by TrackingRun's `MaskImagePrompts` (the rules for palettes and id
// maps), JSON prompts by its `PromptSpec` (the daemon's decoder).

import ArgumentParser
import Export
import Foundation
import Media
import SAM2
import TrackingRun

/// The prompt options of `samtrack track`, parsed (see the file comment).
struct TrackPrompts {
    var boxes: [String]
    var points: [String]
    var masks: [String]
    var promptsFile: String?

    /// Where a prompt came from, for messages about two prompts for one object and frame.
    private struct Key: Hashable { let id: Int, frame: Int }

    /// The prompts, sorted by frame and object. With `loading` false only the syntax of the
    /// options is checked (no file is read).
    func parse(loading: Bool = true) throws -> [TrackingPrompt] {
        var clicks: [Key: ImagePrompt] = [:]
        for text in boxes {
            let (id, frame, value) = try Self.split(text, option: "--box")
            let v = try PromptParsing.numbers(value, count: 4, what: "--box")
            var current = clicks[Key(id: id!, frame: frame)] ?? ImagePrompt()
            guard current.box == nil else { throw ValidationError("--box: object \(id!) has two boxes on frame \(frame)") }
            current.box = (v[0], v[1], v[2], v[3])
            clicks[Key(id: id!, frame: frame)] = current
        }
        for text in points {
            let (id, frame, value) = try Self.split(text, option: "--point")
            clicks[Key(id: id!, frame: frame), default: ImagePrompt()].points.append(try PromptParsing.point(value))
        }
        var prompts: [Key: (prompt: TrackingPrompt, origin: String)] = [:]
        for (key, prompt) in clicks {
            prompts[key] = (TrackingPrompt(objectID: key.id, frame: key.frame, kind: .points(prompt)), "--box/--point")
        }
        func add(_ prompt: TrackingPrompt, origin: String) throws {
            let key = Key(id: prompt.objectID, frame: prompt.frame)
            if let other = prompts[key] {
                throw ValidationError("object \(key.id) has two prompts on frame \(key.frame) (\(other.origin) and \(origin)): "
                                      + "give one prompt per object and frame")
            }
            prompts[key] = (prompt, origin)
        }
        for text in masks {
            let (id, frame, path) = try Self.split(text, option: "--mask", idOptional: true)
            guard loading else { continue }
            let image = try reportingErrors { try StillImage.load(path) }
            if let id {
                let mask = try reportingErrors { try MaskImagePrompts.singleObject(in: image, path: path) }
                try add(TrackingPrompt(objectID: id, frame: frame, kind: .mask(mask)), origin: "--mask \(text)")
            } else {
                for object in try reportingErrors({ try MaskImagePrompts.objects(in: image, path: path) }) {
                    try add(TrackingPrompt(objectID: object.id, frame: frame, kind: .mask(object.mask)), origin: "--mask \(text)")
                }
            }
        }
        if let promptsFile, loading {
            for prompt in try Self.load(promptsFile) { try add(prompt, origin: "--prompts \(promptsFile)") }
        }
        return prompts.values.map(\.prompt).sorted { ($0.frame, $0.objectID) < ($1.frame, $1.objectID) }
    }

    /// The prompts of a JSON prompts file, each checked as the daemon checks a job's.
    static func load(_ path: String) throws -> [TrackingPrompt] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CommandFailure("--prompts \(path): cannot read it (\((error as NSError).localizedDescription))", exit: .noInput)
        }
        let list: PromptList
        do {
            list = try JSONDecoder().decode(PromptList.self, from: data)
        } catch let error as DecodingError {
            if case let .dataCorrupted(context) = error, context.codingPath.isEmpty,
               (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) == nil {
                throw CommandFailure("--prompts \(path): not valid JSON", exit: .dataError)
            }
            throw CommandFailure("--prompts \(path): \(describe(error)) (expected {\"prompts\": [{\"object\": 1, \"frame\": 0, "
                                 + "\"box\": [x1, y1, x2, y2]}, ...]}, see samtrack(1))", exit: .dataError)
        }
        guard !list.prompts.isEmpty else { throw CommandFailure("--prompts \(path): the list is empty", exit: .dataError) }
        var seen = Set<[Int]>()
        for (i, spec) in list.prompts.enumerated() {
            do { try spec.validate(at: i) } catch { throw CommandFailure("--prompts \(path): \(error.message)", exit: .dataError) }
            guard seen.insert([spec.object, spec.frame ?? 0]).inserted else {
                throw CommandFailure("--prompts \(path): object \(spec.object) has two prompts on frame \(spec.frame ?? 0): "
                                     + "merge them into one entry", exit: .dataError)
            }
        }
        return list.prompts.map { $0.trackingPrompt() }
    }

    /// Parses `ID[@FRAME]:VALUE`; with `idOptional`, also `VALUE` and `@FRAME:VALUE` (id nil).
    static func split(_ text: String, option: String, idOptional: Bool = false) throws -> (id: Int?, frame: Int, value: String) {
        guard let colon = text.firstIndex(of: ":") else {
            // "1" or "1@2" is an id without its file, not a file of that name.
            let idWithoutFile = text.split(separator: "@", omittingEmptySubsequences: false).allSatisfy { Int($0) != nil }
            if idOptional && !text.isEmpty && !idWithoutFile { return (nil, 0, text) }
            throw ValidationError("\(option) '\(text)': expected \(idOptional ? "ID:FILE, or FILE for every object of a palette PNG" : "ID:VALUES")")
        }
        let head = text[..<colon], value = String(text[text.index(after: colon)...])
        let parts = head.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw ValidationError("\(option) '\(text)': expected ID or ID@FRAME before ':'") }
        var id: Int? = nil
        if !(idOptional && parts[0].isEmpty && parts.count == 2) {
            guard let parsed = Int(parts[0]), parsed > 0 else {
                throw ValidationError("\(option) '\(text)': object id must be a positive integer")
            }
            id = parsed
        }
        var frame = 0
        if parts.count == 2 {
            guard let f = Int(parts[1]), f >= 0 else { throw ValidationError("\(option) '\(text)': FRAME must be 0 or more") }
            frame = f
        }
        guard !value.isEmpty else { throw ValidationError("\(option) '\(text)': nothing after ':'") }
        return (id, frame, value)
    }
}
