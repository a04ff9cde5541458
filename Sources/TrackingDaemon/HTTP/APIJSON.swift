// APIJSON: the API's JSON conventions — strict decoding (unknown keys are errors, every failure a
// 400 naming the JSON path: TrackingRun's `StrictJSON`), sorted output, ISO 8601 timestamps.

import Export
import Foundation
import TrackingRun

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
