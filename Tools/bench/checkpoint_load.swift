// checkpoint_load: median wall time of CheckpointLoader.load over N loads of one file, for the
// checkpoint load-cost rows of Tools/bench/README.md. Built with the release build's flags from
// the Checkpoint sources (the command is in the README); usage: checkpoint_load FILE [N] [THREADS].

import Foundation
import Tensor

@main struct CheckpointLoadBench {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count > 1 else {
            print("usage: checkpoint_load FILE [LOADS] [THREADS]")
            return
        }
        let path = arguments[1]
        let loads = arguments.count > 2 ? Int(arguments[2]) ?? 9 : 9
        if arguments.count > 3, let threads = Int(arguments[3]) { Parallel.setThreadCount(threads) }
        var times: [Double] = []
        for _ in 0..<loads {
            let start = DispatchTime.now().uptimeNanoseconds
            let store = try CheckpointLoader.load(path: path)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            _ = store.orderedKeys.count
        }
        times.sort()
        print(String(format: "%@: median %.1f ms (min %.1f, max %.1f) over %d loads, %d threads", path,
                     times[times.count / 2], times[0], times[times.count - 1], loads, Parallel.threadCount))
    }
}
