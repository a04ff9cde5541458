// WorkerPool (Sources/Tensor/WorkerPool.swift) and the products `sgemm` splits over it: every
// index of a loop runs exactly once, whatever the chunking, nesting or concurrency, and a split
// product is the product (against a double-precision sum) and bit-identical to one OpenBLAS call
// (blocks that did not start on register-tile boundaries changed the last bits, and the full-size
// parity video's frame 1 noticed). Run with and without OPENBLAS_CORETYPE=Haswell.

import COpenBLAS
import CSpin
import Foundation
import Synchronization
import XCTest
@testable import Tensor
import TestSupport

final class WorkerPoolTests: XCTestCase {
    func testEveryIndexRunsExactlyOnceOverManyJobs() {
        let pool = WorkerPool(workerCount: 3)
        defer { pool.retire() }
        for job in 0..<3000 {
            let chunks = 1 + job % 37
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
            hits.initialize(repeating: 0, count: chunks)
            defer { hits.deallocate() }
            XCTAssertTrue(pool.run(chunks: chunks) { chunk in hits[chunk] += 1 })
            for chunk in 0..<chunks where hits[chunk] != 1 {
                XCTFail("job \(job): chunk \(chunk) ran \(hits[chunk]) times")
                return
            }
            // Every few jobs, let the workers go past their polling time and park.
            if job % 500 == 499 { usleep(2_000) }
        }
    }

    func testForEachCoversTheRangeInDisjointPieces() {
        for count in [1, 2, 3, 7, 64, 1000, 4097] {
            for grain in [1, 5, 100] {
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { buffer in
                    Parallel.forEach(count, grain: grain) { range in
                        for i in range { buffer[i] += 1 }
                    }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: count), "count \(count), grain \(grain)")
            }
        }
    }

    func testNestedForEachRunsOnTheCallingThread() {
        let total = Atomic<Int>(0)
        Parallel.forEach(8) { outer in
            for _ in outer {
                Parallel.forEach(100) { inner in total.add(inner.count, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 800)
    }

    func testLoopsFromSeveralThreadsAtOnce() {
        // Two threads submit at the same time: one gets the pool, the other runs its loop itself.
        let sums = Mutex<[Int]>([0, 0, 0, 0])
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for _ in 0..<200 {
                let part = Atomic<Int>(0)
                Parallel.forEach(1000) { range in part.add(range.reduce(0, +), ordering: .relaxed) }
                let value = part.load(ordering: .relaxed)
                sums.withLock { $0[thread] += value }
            }
        }
        XCTAssertEqual(sums.withLock { $0 }, [Int](repeating: 200 * 999 * 1000 / 2, count: 4))
    }

    func testOpenBLASStaysSingleThreaded() {
        // Whichever context is created (the process default, a job's), OpenBLAS must not run
        // threads of its own beside the pools'.
        openblas_set_num_threads(2)  // as OpenBLAS starts: one thread per core
        _ = ComputeContext(threads: 3)
        XCTAssertEqual(openblas_get_num_threads(), 1)
    }

    func testContextsOfAnySizeCoverEveryChunk() {
        for count in [1, 3, 2, 4] {
            let context = ComputeContext(threads: count)
            context.run {
                XCTAssertEqual(Parallel.threadCount, count)
                let total = Atomic<Int>(0)
                Parallel.forEach(10_000) { range in total.add(range.count, ordering: .relaxed) }
                XCTAssertEqual(total.load(ordering: .relaxed), 10_000)
            }
        }
    }

    func testTwoContextsRunAtTheSameTimeEachOnItsOwnThreads() {
        // Two jobs with a context of 2 threads each: all four chunks run at the same time, each
        // job on its own threads (with one process-wide pool the second job would find it busy
        // and run serially on its caller). Every chunk waits until all four are inside. The contexts
        // are used at once, before their worker threads may have started: a worker that started
        // after its pool's first job was published used to skip that job (the CI failure "job 1 used
        // 1 threads" on a loaded machine), so each context's first loop ran on its caller alone.
        let contexts = [ComputeContext(threads: 2), ComputeContext(threads: 2)]
        let threadsSeen = Mutex<[Set<UInt>]>([[], []])
        let inside = Atomic<Int>(0), allInside = Atomic<Bool>(false)
        let finished = DispatchGroup()
        // Two plain threads, one per job (Dispatch may run concurrentPerform's iterations one after
        // the other on a busy machine).
        for job in 0..<2 {
            finished.enter()
            let thread = Thread {
                contexts[job].run {
                    Parallel.forEach(2, grain: 1) { _ in
                        threadsSeen.withLock { _ = $0[job].insert(UInt(pthread_self())) }
                        if inside.add(1, ordering: .sequentiallyConsistent).newValue == 4 { allInside.store(true, ordering: .relaxed) }
                        let deadline = Date().addingTimeInterval(60)
                        while Date() < deadline, !allInside.load(ordering: .relaxed) { usleep(500) }
                    }
                }
                finished.leave()
            }
            thread.start()
        }
        finished.wait()
        XCTAssertTrue(allInside.load(ordering: .relaxed), "the two contexts' four chunks never ran at the same time")
        let seen = threadsSeen.withLock { $0 }
        XCTAssertEqual(seen[0].count, 2, "job 0 used \(seen[0].count) threads")
        XCTAssertEqual(seen[1].count, 2, "job 1 used \(seen[1].count) threads")
        XCTAssertTrue(seen[0].isDisjoint(with: seen[1]), "the jobs shared threads")
    }

    func testANewContextsFirstLoopUsesItsWorkers() {
        // A context used the moment it is made: its worker must join the first loop even when its
        // thread starts after the loop was published. Each loop's two chunks wait for each other.
        for attempt in 0..<50 {
            let context = ComputeContext(threads: 2)
            let threads = Mutex<Set<UInt>>([])
            let inside = Atomic<Int>(0)
            context.run {
                Parallel.forEach(2, grain: 1) { _ in
                    threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                    inside.add(1, ordering: .sequentiallyConsistent)
                    let deadline = Date().addingTimeInterval(20)
                    while Date() < deadline, inside.load(ordering: .sequentiallyConsistent) < 2 { usleep(200) }
                }
            }
            let count = threads.withLock { $0.count }
            if count != 2 { return XCTFail("attempt \(attempt): the first loop ran on \(count) thread(s)") }
        }
    }

    func testBatchWorkersRunAtALowerPriority() {
        let batch = ComputeContext(threads: 2, priority: .batch)
        let nices = Mutex<Set<Int32>>([])
        let before = st_thread_nice()
        batch.run {
            Parallel.forEach(2, grain: 1) { _ in
                let deadline = Date().addingTimeInterval(0.05)
                nices.withLock { _ = $0.insert(st_thread_nice()) }
                while Date() < deadline { usleep(1000) }
            }
        }
        XCTAssertEqual(nices.withLock { $0 }, [10], "worker and caller threads of a batch context run at nice 10")
        XCTAssertEqual(st_thread_nice(), before, "the caller's priority is restored after run")
    }

    func testLoopsNestedInAWorkerStayOnItsPool() {
        let context = ComputeContext(threads: 2)
        let counts = Mutex<[Int]>([])
        context.run {
            Parallel.forEach(2, grain: 1) { _ in
                counts.withLock { $0.append(Parallel.threadCount) }
            }
        }
        XCTAssertEqual(counts.withLock { $0 }, [2, 2], "a worker thread reports its own pool's size, not the default's")
    }

    func testSplitProductsAreTheProduct() {
        ComputeContext(threads: 3).run { splitProductsAreTheProduct() }
    }

    private func splitProductsAreTheProduct() {
        // (m, n, k): split by rows, split by columns (few rows), and one too small to split.
        for (m, n, k) in [(515, 300, 97), (1000, 77, 130), (40, 2000, 64), (40, 1003, 600), (16, 16, 16)] {
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
                var rng = SeededGenerator(seed: UInt64(m * 31 + n * 7 + k))
                let a = (0..<(m * k)).map { _ in Float.random(in: -1..<1, using: &rng) }
                let b = (0..<(k * n)).map { _ in Float.random(in: -1..<1, using: &rng) }
                let c0 = (0..<(m * n)).map { _ in Float.random(in: -1..<1, using: &rng) }
                let lda = transposeA ? m : k, ldb = transposeB ? k : n
                var split = c0
                sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5,
                      a: a, lda: lda, b: b, ldb: ldb, beta: 0.25, c: &split, ldc: n)
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = 0.0
                        for l in 0..<k {
                            let x = transposeA ? a[l * m + i] : a[i * k + l]
                            let y = transposeB ? b[j * k + l] : b[l * n + j]
                            sum += Double(x) * Double(y)
                        }
                        let expected = 0.5 * sum + 0.25 * Double(c0[i * n + j])
                        worst = max(worst, abs(Double(split[i * n + j]) - expected))
                    }
                }
                // k <= 97 products of values in [-1, 1]: float32 sums are good to ~1e-5.
                XCTAssertLessThan(worst, 2e-5, "\(m)x\(n)x\(k), transposes \(transposeA) \(transposeB)")
                var whole = c0
                cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), 0.5, a, Int32(lda), b, Int32(ldb), 0.25, &whole, Int32(n))
                let differing = zip(split, whole).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(m)x\(n)x\(k), transposes \(transposeA) \(transposeB): elements differing from one call")
            }
        }
    }

    /// The fp32 linear layer runs as one job of `sgemm`'s blocks, each filling its part of the
    /// output with the bias, running its product (beta 1) and applying the activation: the same
    /// bits as the bias, one whole OpenBLAS call and the activation over the whole output, for row
    /// and column splits and unsplit products.
    /// An input with no features (in = 0): every row is the bias, or zeros without one, on OpenBLAS
    /// and on the packed kernel (the row count comes from the shape, not from count / in).
    func testLinearWithNoInputFeaturesGivesTheBias() {
        let x = Tensor(shape: [2, 3, 0], values: []), w = Tensor(shape: [5, 0], values: [])
        let bias = Tensor(shape: [5], values: [1, 2, 3, 4, 5])
        var results = [("OpenBLAS", x.linear(weight: w, bias: bias), x.linear(weight: w, bias: nil))]
        if PackedF32Kernel.supported {
            results.append(("packed", x.linearOnPackedKernel(weight: w, bias: bias, packed: PackedWeightCache()),
                            x.linearOnPackedKernel(weight: w, bias: nil, packed: PackedWeightCache())))
        }
        for (path, withBias, withoutBias) in results {
            XCTAssertEqual(withBias.shape, [2, 3, 5], path)
            XCTAssertEqual(withBias.scalars, Array(repeating: [Float]([1, 2, 3, 4, 5]), count: 6).flatMap { $0 }, path)
            XCTAssertEqual(withoutBias.scalars, [Float](repeating: 0, count: 30), path)
        }
    }

    func testFusedLinearBlocksAreTheLayer() {
        ComputeContext(threads: 3).run {
            for (rows, inFeatures, outFeatures) in [(1000, 96, 203), (40, 64, 1003), (4096, 48, 192), (7, 5, 3)] {
                var rng = SeededGenerator(seed: UInt64(rows + inFeatures + outFeatures))
                let x = rng.normal([rows, inFeatures]), w = rng.normal([outFeatures, inFeatures]), bias = rng.normal([outFeatures])
                for activation in [Activation.identity, .gelu, .relu] {
                    let layer = x.linear(weight: w, bias: bias, activation: activation)
                    var reference = [Float](repeating: 0, count: rows * outFeatures)
                    for row in 0..<rows { for col in 0..<outFeatures { reference[row * outFeatures + col] = bias.scalars[col] } }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
                                1, x.scalars, Int32(inFeatures), w.scalars, Int32(inFeatures), 1, &reference, Int32(outFeatures))
                    let expected = Tensor(shape: [rows, outFeatures], values: reference).applying(activation)
                    let differing = zip(layer.scalars, expected.scalars).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "\(rows)x\(inFeatures)->\(outFeatures) \(activation): elements differing")
                }
            }
        }
    }
}

