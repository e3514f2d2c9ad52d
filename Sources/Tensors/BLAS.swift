import CKernels
import COpenBLAS
import Foundation

/// The OpenBLAS binding: thread count, and row-major SGEMM on raw pointers.
///
/// OpenBLAS itself runs single-threaded; large products are split into blocks of rows (or
/// columns), about one per core, and the blocks run on `Parallel.perform`'s worker pool, the
/// threads that also run the element-wise kernels. OpenBLAS's own pool spins in `sched_yield`
/// after every call (measured: 22% of all cycles of a small-model training step), fighting those
/// kernels on the same two cores right after.
public enum BLAS {
    /// Cores used by GEMMs and the parallel kernels: `RLHF_THREADS` if given, else all.
    public static let threads: Int = {
        let env = ProcessInfo.processInfo.environment["RLHF_THREADS"].flatMap { Int($0) }
        openblas_set_num_threads(1)
        return max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Products of 1–8 rows (decoding steps at small batch) go to `ck_skinny_sgemm` where the CPU
    /// has AVX2 and FMA: OpenBLAS's SGEMM spent 57% of batch-8 generation at 124M packing weights
    /// it then used 8 times. The kernel streams each weight once (with 2–8 rows, the rows ahead
    /// prefetched into L2), in AVX-512 where the CPU has it. On one row it reads weights about as
    /// fast as OpenBLAS's SGEMV (`rlhf bench decode` on the AVX2 EPYC, 2026-12-04: 0.86–1.02× its
    /// speed), and unlike a column-split SGEMV its values do not depend on the core count.
    /// `RLHF_SKINNY=0` turns it off, for A/B runs against OpenBLAS.
    static let skinny = ck_has_avx2_fma() != 0 && ProcessInfo.processInfo.environment["RLHF_SKINNY"] != "0"

    /// The few-row kernel's vector width: 16 (AVX-512) or 8 (AVX2); other values leave it as it
    /// is. Returns the width in effect. For tests, which check both.
    @discardableResult
    static func setSkinnyLanes(_ lanes: Int) -> Int { Int(ck_skinny_set_lanes(Int32(lanes))) }

    /// Below this many FLOPs a product runs on one core: splitting costs more than it saves.
    static let splitFLOPs = 2_000_000.0

    /// OpenBLAS's limit for its small-matrix SGEMM kernels, in multiply-adds (m·n·k): products of
    /// at most this many may take them, larger ones never do (`sgemm_small_matrix_permit`).
    static let smallMatrixMultiplyAdds = 1_000_000.0

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major; op(A) is m×k, op(B) is k×n.
    /// `lda`/`ldb`/`ldc` are row strides of A, B, C as stored.
    ///
    /// With `bias` (n floats) every row of C is first set to it and `beta` must be 1: a linear
    /// layer's y = x·W + b in one pass over C. Each block's rows (or columns) are set by the core
    /// that multiplies into them, just before it does, so the copy is split too and C is still in
    /// cache; done once up front, on one core, it was 15% of the time a PPO iteration left the
    /// second core idle (`perf record -a`, 2026-12-06).
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
        bias: UnsafePointer<Float>? = nil
    ) {
        precondition(bias == nil || beta == 1, "sgemm: a bias is added with beta = 1, found beta = \(beta)")
        let parts = Parallel.workers
        if m == 0 || n == 0 { return }
        if k == 0 {
            if let bias { for i in 0..<m { (c + i * ldc).update(from: bias, count: n) } }
            // beta = 0 sets C, so an uninitialised C's NaNs do not survive as 0 · NaN.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
            return
        }
        // `bias` here is the block's own slice of it (offset by the block's first column).
        func run(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                 _ bias: UnsafePointer<Float>?) {
            if let bias { for i in 0..<m { (c + i * ldc).update(from: bias, count: n) } }
            if skinny && !transA && m <= 8 {
                ck_skinny_sgemm(transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
                return
            }
            if m == 1 {
                // One row without the few-row kernel (or with A transposed): SGEMV reads op(B)
                // once. SGEMM would first pack all of B into its blocked layout — in perf, 61% of
                // batch-1 generation at 124M was that copying — for a product that uses each
                // weight once.
                if beta == 0 { c.update(repeating: 0, count: n) }  // never let 0 · NaN leak from an uninitialised C
                let x = a, incx = Int32(transA ? lda : 1)
                if transB {
                    // op(B) = Bᵀ with B stored n×k: y = B · x.
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), x, incx, beta, c, 1)
                } else {
                    // B stored k×n: y = Bᵀ · x.
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), x, incx, beta, c, 1)
                }
                return
            }
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        guard parts > 1, 2.0 * Double(m) * Double(n) * Double(k) >= splitFLOPs, max(m, n) >= 2 * parts else {
            run(m, n, a, b, c, bias)
            return
        }
        // Why a product's values never depend on the core count, block by block:
        // - Few rows (the C kernel) split by columns of C: each column is one dot product per
        //   row, computed the same way wherever the block starts (tested). SGEMV, used for one
        //   row only without the kernel (RLHF_SKINNY=0, or A transposed), is not so on AVX2:
        //   there a column split of 1×3001×769 changed the last bits (2026-12-04). That is also
        //   why one-row products stay on the kernel, whose one-row loops now read weights about
        //   as fast as SGEMV (`rlhf bench decode`: 0.94–1.02× its speed, 0.86–0.98× on 768×768).
        // - Otherwise OpenBLAS's SGEMM, split by rows of C, with every block starting at a multiple
        //   of 24 rows. Its AVX2 kernels compute the last few rows and columns of a block with
        //   other instructions than full tiles (its AVX-512 kernels do not), so on a 2-core EPYC
        //   without AVX-512 a block edge inside a tile changed the last bits there. Any column
        //   boundary did (every split of 40×300×200 tried), and row boundaries at multiples of 24
        //   never did (measured against the unsplit product for m up to 4096, both layouts of B).
        //   Every block must be 24 rows or more, though: 32 rows split 24 + 8 changed the last
        //   bits of 32×384×128 with Bᵀ (tried 2026-12-04 for the demo's batch-32 decoding), so
        //   fewer than 48 rows stay on one core.
        // - And every block must stay on SGEMM's blocked path, as the whole product does: OpenBLAS
        //   (0.3.17 on, x86-64) sends products of at most 1e6 multiply-adds to its small-matrix
        //   kernels, which form some entries from 16 partial sums (the SkylakeX kernels with Bᵀ,
        //   read in 0.3.21's source) and do not cut k into blocks of 448 as the blocked path does.
        //   A 1400×1×768 value head with Bᵀ split in two would have taken them.
        if (skinny && !transA && m <= 8) || m == 1 {
            Parallel.perform(iterations: parts) { p in
                let lo = n * p / parts, hi = n * (p + 1) / parts
                guard lo < hi else { return }
                run(m, hi - lo, a, transB ? b + lo * ldb : b + lo, c + lo, bias.map { $0 + lo })
            }
            return
        }
        // Every block on the blocked path (above): the tail of small blocks where they all are,
        // else one block per core (a 4096×1×768 value head's tail blocks would not be).
        func onBlockedPath(_ starts: [Int]) -> Bool {
            var smallest = m
            for (lo, hi) in zip(starts, starts.dropFirst()) where hi > lo { smallest = min(smallest, hi - lo) }
            return Double(smallest) * Double(n) * Double(k) > smallMatrixMultiplyAdds
        }
        guard m >= 2 * rowTile else {
            run(m, n, a, b, c, bias)
            return
        }
        var starts = rowBlockStarts(m: m, parts: parts, tail: true)
        if starts.count > parts + 1 && !onBlockedPath(starts) { starts = rowBlockStarts(m: m, parts: parts, tail: false) }
        guard onBlockedPath(starts) else {
            run(m, n, a, b, c, bias)
            return
        }
        // Blocks are handed out in order to whichever core is free (`ck_parallel_for`).
        Parallel.perform(iterations: starts.count - 1) { p in
            let lo = starts[p], hi = starts[p + 1]
            guard lo < hi else { return }
            // Rows of C and of op(A): rows of A, or columns of a transposed A.
            run(hi - lo, n, transA ? a + lo : a + lo * lda, b, c + lo * ldc, bias)
        }
    }

    /// Row blocks start at multiples of this (see `sgemm` for why).
    static let rowTile = 24

    /// Products of at least this many rows per core get a tail of small blocks.
    static let tailRowsPerCore = 960

    /// The first row of each block of an `m`-row product split for `parts` cores, then `m`.
    ///
    /// Every start is the multiple of 24 nearest its share (rounding down left 48 + 80 of a
    /// 128-row product, one core idle 40% of it; now 72 + 56), and the last block keeps 24 rows
    /// or more. One block per core, except with `tail` for products of `tailRowsPerCore` rows per
    /// core or more: there each core's block holds 80% of its share and the last 20% follow as
    /// one small block per core, which the cores take as they finish. The Xeon's two vCPUs often
    /// differ in speed (one ran sgemm at 78–102 GFLOP/s while the other ran 127–155, 2026-12-06),
    /// and with even halves the faster one waited for the slower one at the end of every product.
    /// Each block packs op(B) anew, so the small blocks keep 168 rows or more (a fifth of 960,
    /// less the rounding to 24). With the two splits alternated call by call in a PPO run, so
    /// that both saw the same machine: 1.06–1.44× faster at every shape of 2,000 rows or more in
    /// two runs, 0.99–1.13× at 1,920–1,999.
    static func rowBlockStarts(m: Int, parts: Int, tail: Bool = true) -> [Int] {
        // Shares in whole units: 8 and 2 tenths, or one each.
        let units = tail && m >= tailRowsPerCore * parts ? Array(repeating: 8, count: parts) + Array(repeating: 2, count: parts)
                                                 : Array(repeating: 1, count: parts)
        let total = units.reduce(0, +)
        var starts = [0], cumulative = 0
        for u in units.dropLast() {
            cumulative += u
            let nearest = (m * cumulative / total + rowTile / 2) / rowTile * rowTile
            starts.append(max(starts.last!, min(nearest, (m - rowTile) / rowTile * rowTile)))
        }
        return starts + [m]
    }
}
