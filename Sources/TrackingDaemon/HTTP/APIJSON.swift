// APIJSON: the API's JSON conventions — strict decoding (unknown keys are errors, every failure a
// 400 naming the JSON path), sorted output, ISO 8601 timestamps.

import Export
import Foundation

/// Readable text for a `DecodingError`, naming the JSON path (`prompts[0].box`).
func describe(_ error: DecodingError) -> String {
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
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension Decoder {
    /// Throws when the JSON object has keys outside `known` (a typo such as `max_frame` should
    /// not be silently ignored).
    func rejectUnknownKeys(_ known: Set<String>) throws {
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
    static var allNames: [String] { allCases.map(\.stringValue) }
}

/// JSON coders with the API's conventions: snake_case keys, sorted output, ISO 8601 dates.
enum APIJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        Array((try? encoder().encode(value)) ?? Data("null".utf8))
    }

    static func encodeString<T: Encodable>(_ value: T) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    /// Decodes `body`, turning every failure into a 400 with the JSON path in the message (a
    /// mask prompt's RLE that is malformed or larger than `maskPixels` is 422 `bad_mask`).
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8], maskPixels: Int = 1 << 28) throws(APIError) -> T {
        guard !body.isEmpty else { throw APIError(.invalidJSON, "the request body is empty: send a JSON object") }
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[COCORLE.maximumPixelsKey] = maskPixels
            return try decoder.decode(type, from: Data(body))
        } catch let error as DecodingError {
            if case let .dataCorrupted(context) = error, let rle = context.underlyingError as? ExportError {
                throw APIError(.badMask, "\(describe(error)): \(rle.description)")
            }
            if case let .dataCorrupted(context) = error, context.codingPath.isEmpty,
               (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) == nil {
                throw APIError(.invalidJSON, "the request body is not valid JSON")
            }
            throw APIError(.invalidRequest, describe(error))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.invalidJSON, "the request body is not valid JSON")
        }
    }

    static func timestamp(_ date: Date?) -> String? {
        guard let date else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
