// StrictJSON: the JSON decoding conventions of every request samtrack reads from a person or a
// client (the daemon's bodies and config file, the CLI's prompts file): unknown keys are errors
// (a typo such as `max_frame` must not be silently ignored), and a failure names its JSON path.

import Foundation

/// Readable text for a `DecodingError`, naming the JSON path (`prompts[0].box`).
public func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return text.isEmpty ? "the body" : text
    }
    switch error {
    case let .typeMismatch(type, context):
        return "\(path(context.codingPath)): expected \(jsonTypeName(type))"
    case let .valueNotFound(type, context):
        return "\(path(context.codingPath)): expected \(jsonTypeName(type)), found null"
    case let .keyNotFound(key, context):
        return "\(path(context.codingPath + [key])) is required"
    case let .dataCorrupted(context):
        if context.codingPath.isEmpty { return context.debugDescription }
        return "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func jsonTypeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Int.Type, is Int64.Type, is UInt32.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is Bool.Type: return "true or false"
    default:
        let name = "\(type)"
        if name.hasPrefix("Array") { return "an array" }
        return "an object"
    }
}

/// A coding key for any string, to list the keys an object really has.
public struct AnyCodingKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { return nil }
}

extension Decoder {
    /// Throws when the JSON object has keys outside `known`.
    public func rejectUnknownKeys(_ known: Set<String>) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            let context = DecodingError.Context(
                codingPath: codingPath,
                debugDescription: "unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); "
                    + "allowed: \(known.sorted().joined(separator: ", "))")
            throw DecodingError.dataCorrupted(context)
        }
    }
}

extension CodingKey where Self: CaseIterable {
    /// Every key's JSON name (for `rejectUnknownKeys`).
    public static var allNames: [String] { allCases.map(\.stringValue) }
}
