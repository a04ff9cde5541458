// CheckpointFuzzer: a libFuzzer target for the checkpoint reader (Sources/Checkpoint), built by
// Tools/fuzz/build.sh with `swiftc -sanitize=fuzzer,address` from the Checkpoint sources
// themselves (so internal entry points are reachable). Every input must load or throw a
// CheckpointError; a trap, an ASan report or an uncaught error is a crash that libFuzzer saves.
//
// The first byte picks what the rest is:
//   even  a whole checkpoint file (zip + pickle, or safetensors), read from memory exactly as a
//         mapping of a file with these bytes;
//   odd   a `data.pkl` pickle, read against the storages of Fixtures/checkpoint/official.pt
//         (whole-file inputs rarely get past the CRC-32 of the pickle entry; this mode goes
//         straight to the pickle machine, the flattening and the tensor builder).

#if canImport(Glibc)
import Glibc
#endif
import Tensor

/// The archive whose storages odd-mode pickles refer to (`official/data/<key>`).
nonisolated(unsafe) private var storages: ZipArchive?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Parallel.setThreadCount(1)
    let path = getenvString("SAMTRACK_FUZZ_ARCHIVE") ?? "Fixtures/checkpoint/official.pt"
    do {
        storages = try ZipArchive(file: MappedFile(path: path))
    } catch {
        fatalError("cannot read \(path) (run from the repository root or set SAMTRACK_FUZZ_ARCHIVE): \(error)")
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    do {
        let store: WeightStore
        if data[0] & 1 == 0 {
            store = try CheckpointLoader.load(file: MappedFile(name: "fuzz-input", bytes: bytes))
        } else {
            store = try bytes.withUnsafeBytes {
                try TorchCheckpointReader.load(pickle: $0, streamName: "official/data.pkl", archive: storages!, prefix: "official/")
            }
        }
        // Touch every tensor's first and last element (borrowed tensors point into the input).
        for tensor in store.tensors.values {
            tensor.withUnsafeBufferPointer { buffer in
                if let first = buffer.first, let last = buffer.last, first.isNaN && last.isNaN { sink &+= 1 }
            }
        }
    } catch is CheckpointError {
        return 0
    } catch {
        fatalError("not a CheckpointError: \(error)")
    }
    return 0
}

nonisolated(unsafe) private var sink = 0

private func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
