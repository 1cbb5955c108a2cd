//! Matrix products of the local model: quantized weights (Q4_1, Q8_0) against f32
//! activations, and plain f32 weights for any other stored type.
//!
//! Every output value is computed by one fixed sequence of operations (the *canonical order*
//! below) whatever the number of rows processed together, the kernel (AVX2 or portable) and the
//! thread: results are batch-invariant bit for bit, which is what makes prefix reuse of the KV
//! cache exact. Not for anything else: no threading here, a call runs on the caller's thread.
//!
//! Activations stay f32. llama.cpp rounds them to 8 bits for quantized products; tried here,
//! that moved logits by up to 0.9 and turned SmolLM2's greedy answer to "What is the capital of
//! France?" from "The capital of France is Paris." (what the exact computation gives, matching
//! an f64 reference to 3e-5) into "L'Étoile, la Marseillaise, …".
//!
//! Canonical order of one output `y = Σ w·x` for quantized weights: each block of 32 weights is
//! dequantized (`w = fma(d, q, m)` for Q4_1, `w = d·q` for Q8_0); its four groups of 8 values
//! `k = 0..4` are accumulated lane by lane with fused multiply-adds into two accumulators,
//! `even` (k = 0, 2) and `odd` (k = 1, 3): `acc[j] = fma(w[8k+j], x[8k+j], acc[j])`; at the
//! end `lane[j] = even[j] + odd[j]` and `y = ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`. The AVX2
//! code does this natively; the portable code reproduces it with `f32::mul_add`.

/// Values per quantization block (Q4_1, Q8_0).
pub(crate) const QK: usize = 32;

/// A block of 32 weights stored as 4-bit integers: `w = d·q + m`. Element `i < 16` is the low
/// nibble of `qs[i]`, element `16 + i` its high nibble (the GGML layout).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockQ4_1 {
    pub d: f32,
    pub m: f32,
    pub qs: [u8; 16],
}

/// A block of 32 weights stored as 8-bit integers: `w = d·q`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockQ8_0 {
    pub d: f32,
    pub qs: [i8; 32],
}

impl BlockQ4_1 {
    /// The block's weights, in the canonical form `fma(d, q, m)`.
    fn dequantize(&self) -> [f32; QK] {
        let mut w = [0f32; QK];
        for i in 0..16 {
            w[i] = self.d.mul_add(f32::from(self.qs[i] & 0x0F), self.m);
            w[i + 16] = self.d.mul_add(f32::from(self.qs[i] >> 4), self.m);
        }
        w
    }
}

impl BlockQ8_0 {
    /// The block's weights, `d·q`.
    fn dequantize(&self) -> [f32; QK] {
        std::array::from_fn(|i| self.d * f32::from(self.qs[i]))
    }
}

/// Which implementation of the quantized dot products runs. Both give identical bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }
}

/// The stored weights of a matrix, row-major (`rows` outputs × `cols` inputs).
#[derive(Debug)]
pub(crate) enum Weights {
    Q4_1(Vec<BlockQ4_1>),
    Q8_0(Vec<BlockQ8_0>),
    F32(Vec<f32>),
}

/// A weight matrix: `y = W·x` maps `cols` inputs to `rows` outputs.
#[derive(Debug)]
pub(crate) struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub weights: Weights,
}

/// Tokens that meet a weight row together (one register accumulator pair each).
const TILE: usize = 4;
/// Weight rows kept hot in cache while all tokens stream past them.
const TILE_ROWS: usize = 16;

impl Matrix {
    /// Row `r` as f32 values (an embedding lookup), written into `out` (`cols` values).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) {
        let nb = self.cols / QK;
        match &self.weights {
            Weights::Q4_1(blocks) => {
                for (o, block) in out.chunks_exact_mut(QK).zip(&blocks[r * nb..(r + 1) * nb]) {
                    o.copy_from_slice(&block.dequantize());
                }
            }
            Weights::Q8_0(blocks) => {
                for (o, block) in out.chunks_exact_mut(QK).zip(&blocks[r * nb..(r + 1) * nb]) {
                    o.copy_from_slice(&block.dequantize());
                }
            }
            Weights::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
        }
    }

    /// `y[t·width + (r - rows.start)] = Σ_c W[r][c]·x[t·cols + c]` for the `n` token rows of
    /// `x` and the output rows `r` in `rows` (`width = rows.len()`).
    ///
    /// A weight row meets up to [`TILE`] tokens at once. With more tokens than that (a prompt),
    /// each quantized row is first dequantized into a small buffer, once for all the tokens;
    /// with fewer (generation), blocks are dequantized in registers as they are used. The
    /// dequantized values and each output's arithmetic are the canonical ones either way.
    pub fn matmul(&self, kernel: Kernel, x: &[f32], n: usize, rows: std::ops::Range<usize>, y: &mut [f32]) {
        let width = rows.len();
        let cols = self.cols;
        assert!(x.len() >= n * cols && y.len() >= n * width && rows.end <= self.rows);
        let dense = n > TILE && !matches!(self.weights, Weights::F32(_));
        let mut buffer = if dense { vec![0f32; TILE_ROWS * cols] } else { Vec::new() };
        let mut row0 = rows.start;
        while row0 < rows.end {
            let row1 = (row0 + TILE_ROWS).min(rows.end);
            if dense {
                for r in row0..row1 {
                    self.dequantize_row(kernel, r, &mut buffer[(r - row0) * cols..(r - row0 + 1) * cols]);
                }
            }
            let mut t0 = 0;
            while t0 < n {
                let tn = (n - t0).min(TILE);
                let mut xs: [&[f32]; TILE] = [&[]; TILE];
                for (k, slot) in xs.iter_mut().enumerate().take(tn) {
                    *slot = &x[(t0 + k) * cols..(t0 + k + 1) * cols];
                }
                for r in row0..row1 {
                    let mut out = [0f32; TILE];
                    if dense {
                        dense_tile(kernel, &buffer[(r - row0) * cols..(r - row0 + 1) * cols], &xs[..tn], &mut out);
                    } else {
                        self.row_tile(kernel, r, &xs[..tn], &mut out);
                    }
                    for (k, &o) in out.iter().enumerate().take(tn) {
                        y[(t0 + k) * width + (r - rows.start)] = o;
                    }
                }
                t0 += tn;
            }
            row0 = row1;
        }
    }

    /// Row `r` dequantized into `out` (the canonical values, as the kernels compute them).
    fn dequantize_row(&self, kernel: Kernel, r: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Avx2 {
            let nb = self.cols / QK;
            match &self.weights {
                // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
                Weights::Q4_1(blocks) => unsafe { avx2::dequantize_row_q4_1(&blocks[r * nb..(r + 1) * nb], out) },
                // SAFETY: as above.
                Weights::Q8_0(blocks) => unsafe { avx2::dequantize_row_q8_0(&blocks[r * nb..(r + 1) * nb], out) },
                Weights::F32(_) => self.row_f32(r, out),
            }
            return;
        }
        let _ = kernel;
        self.row_f32(r, out);
    }

    /// Row `r` against the token rows `xs` (at most [`TILE`]), into `out[k]`.
    fn row_tile(&self, kernel: Kernel, r: usize, xs: &[&[f32]], out: &mut [f32; TILE]) {
        let nb = self.cols / QK;
        match &self.weights {
            Weights::Q4_1(blocks) => {
                let row = &blocks[r * nb..(r + 1) * nb];
                #[cfg(target_arch = "x86_64")]
                if kernel == Kernel::Avx2 {
                    // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
                    unsafe { avx2::dot_q4_1(row, xs, out) };
                    return;
                }
                for (o, x) in out.iter_mut().zip(xs) {
                    *o = portable_dot(row.iter().map(BlockQ4_1::dequantize), x);
                }
            }
            Weights::Q8_0(blocks) => {
                let row = &blocks[r * nb..(r + 1) * nb];
                #[cfg(target_arch = "x86_64")]
                if kernel == Kernel::Avx2 {
                    // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
                    unsafe { avx2::dot_q8_0(row, xs, out) };
                    return;
                }
                for (o, x) in out.iter_mut().zip(xs) {
                    *o = portable_dot(row.iter().map(BlockQ8_0::dequantize), x);
                }
            }
            Weights::F32(w) => {
                let row = &w[r * self.cols..(r + 1) * self.cols];
                for (o, x) in out.iter_mut().zip(xs) {
                    *o = dot_f32_with(kernel, row, x);
                }
            }
        }
    }
}

/// The final reduction of 8 lanes (canonical order).
#[inline(always)]
fn hsum8(a: &[f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// An f32 dot product: lane `j` sums `a[8k+j]·b[8k+j]` (multiply, then add) over `k`, then
/// [`hsum8`]. Used by the f32 weights and by attention.
#[inline(always)]
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    for (j, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[j] += x * y;
    }
    hsum8(&acc)
}

/// [`dot_f32`] with AVX2 when the kernel allows it (same bits).
#[inline(always)]
pub(crate) fn dot_f32_with(kernel: Kernel, a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
        return unsafe { avx2::dot_f32(a, b) };
    }
    let _ = kernel;
    dot_f32(a, b)
}

/// The canonical dot products of a dequantized row `w` with the token rows `xs`.
fn dense_tile(kernel: Kernel, w: &[f32], xs: &[&[f32]], out: &mut [f32; TILE]) {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        // SAFETY: `Kernel::Avx2` is only chosen when the CPU reports AVX2 and FMA.
        unsafe { avx2::dot_dense(w, xs, out) };
        return;
    }
    let _ = kernel;
    for (o, x) in out.iter_mut().zip(xs) {
        *o = portable_dot(w.chunks_exact(QK).map(|c| <[f32; QK]>::try_from(c).expect("QK values")), x);
    }
}

/// The canonical dot product of dequantized blocks with `x` (portable version).
fn portable_dot(blocks: impl Iterator<Item = [f32; QK]>, x: &[f32]) -> f32 {
    let mut even = [0f32; 8];
    let mut odd = [0f32; 8];
    for (w, xb) in blocks.zip(x.chunks_exact(QK)) {
        for k in 0..4 {
            let acc = if k % 2 == 0 { &mut even } else { &mut odd };
            for j in 0..8 {
                acc[j] = w[8 * k + j].mul_add(xb[8 * k + j], acc[j]);
            }
        }
    }
    hsum8(&std::array::from_fn(|j| even[j] + odd[j]))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 + FMA versions of the dot products (same bits as the portable ones).

    use super::{BlockQ4_1, BlockQ8_0, QK, TILE};

    /// How many blocks ahead of use weights are prefetched.
    const PREFETCH_BLOCKS: usize = 32;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        // ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)): the canonical order.
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(hi, _mm256_castps256_ps128(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// [`super::dot_f32`]: lane `j` sums `a[8k+j]·b[8k+j]` (multiply, then add) over `k`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let whole = n / 8 * 8;
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i < whole {
            // SAFETY: `i + 8 <= n`, within both slices; unaligned loads.
            let (x, y) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
            acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
            i += 8;
        }
        if whole == n {
            return hsum(acc);
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` is 8 writable floats; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        for (j, k) in (whole..n).enumerate() {
            lanes[j] += a[k] * b[k];
        }
        super::hsum8(&lanes)
    }

    /// The four groups of 8 weights of a Q4_1 block, `fma(d, q, m)`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn dequantize_q4_1(b: &BlockQ4_1) -> [__m256; 4] {
        // SAFETY: `qs` is 16 readable bytes; unaligned load.
        let packed = unsafe { _mm_loadu_si128(b.qs.as_ptr().cast()) };
        let mask = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(packed, mask);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(packed), mask);
        let (d, m) = (_mm256_set1_ps(b.d), _mm256_set1_ps(b.m));
        let widen = |v: __m128i| _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)), m);
        [widen(lo), widen(_mm_unpackhi_epi64(lo, lo)), widen(hi), widen(_mm_unpackhi_epi64(hi, hi))]
    }

    /// The four groups of 8 weights of a Q8_0 block, `d·q`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn dequantize_q8_0(b: &BlockQ8_0) -> [__m256; 4] {
        let d = _mm256_set1_ps(b.d);
        // SAFETY: `qs` is 32 readable bytes; unaligned loads of 8 each.
        let group = |k: usize| unsafe {
            let q = _mm_loadl_epi64(b.qs.as_ptr().add(8 * k).cast());
            _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)))
        };
        [group(0), group(1), group(2), group(3)]
    }

    /// Weight row `w` (blocks dequantized by `dequantize`) against the first `N` of `xs`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<B, const N: usize>(
        w: &[B],
        xs: &[&[f32]],
        out: &mut [f32; TILE],
        dequantize: impl Fn(&B) -> [__m256; 4],
    ) {
        assert!(xs.len() >= N);
        let mut ptrs = [std::ptr::null::<f32>(); N];
        for (p, x) in ptrs.iter_mut().zip(xs) {
            assert!(x.len() >= QK * w.len());
            *p = x.as_ptr();
        }
        let mut even = [_mm256_setzero_ps(); N];
        let mut odd = [_mm256_setzero_ps(); N];
        for (b, block) in w.iter().enumerate() {
            // Weights stream from memory once per use: ask for them ahead. A prefetch never
            // faults, even past the end of the row.
            _mm_prefetch::<_MM_HINT_T0>(w.as_ptr().wrapping_add(b + PREFETCH_BLOCKS).cast());
            let [w0, w1, w2, w3] = dequantize(block);
            for k in 0..N {
                // SAFETY: block `b` of token `k` is within the length asserted above.
                unsafe {
                    let x = ptrs[k].add(QK * b);
                    even[k] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x), even[k]);
                    odd[k] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x.add(8)), odd[k]);
                    even[k] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x.add(16)), even[k]);
                    odd[k] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x.add(24)), odd[k]);
                }
            }
        }
        for k in 0..N {
            out[k] = hsum(_mm256_add_ps(even[k], odd[k]));
        }
    }

    /// A dequantized row (a block of `QK` f32 values) as four groups of 8.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn load_dense(b: &[f32; QK]) -> [__m256; 4] {
        // SAFETY: `b` is 32 readable floats; unaligned loads of 8 each.
        unsafe { std::array::from_fn(|k| _mm256_loadu_ps(b.as_ptr().add(8 * k))) }
    }

    /// A dequantized row `w` against the token rows `xs` (at most `TILE`).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_dense(w: &[f32], xs: &[&[f32]], out: &mut [f32; TILE]) {
        // SAFETY: `w` is a whole number of blocks of QK floats; `[f32; QK]` has the same layout.
        let blocks: &[[f32; QK]] = unsafe { std::slice::from_raw_parts(w.as_ptr().cast(), w.len() / QK) };
        // SAFETY (every arm): the caller's CPU supports AVX2 and FMA; `tile` checks lengths.
        match xs.len() {
            1 => unsafe { tile::<_, 1>(blocks, xs, out, |b| load_dense(b)) },
            2 => unsafe { tile::<_, 2>(blocks, xs, out, |b| load_dense(b)) },
            3 => unsafe { tile::<_, 3>(blocks, xs, out, |b| load_dense(b)) },
            _ => unsafe { tile::<_, TILE>(blocks, xs, out, |b| load_dense(b)) },
        }
    }

    /// Dequantizes a Q4_1 row into `out` (`QK` values per block).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dequantize_row_q4_1(w: &[BlockQ4_1], out: &mut [f32]) {
        for (block, o) in w.iter().zip(out.chunks_exact_mut(QK)) {
            for (k, v) in dequantize_q4_1(block).into_iter().enumerate() {
                // SAFETY: `o` has QK = 32 floats; unaligned store of 8 at 8k.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr().add(8 * k), v) };
            }
        }
    }

    /// Dequantizes a Q8_0 row into `out` (`QK` values per block).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dequantize_row_q8_0(w: &[BlockQ8_0], out: &mut [f32]) {
        for (block, o) in w.iter().zip(out.chunks_exact_mut(QK)) {
            for (k, v) in dequantize_q8_0(block).into_iter().enumerate() {
                // SAFETY: `o` has QK = 32 floats; unaligned store of 8 at 8k.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr().add(8 * k), v) };
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q4_1(w: &[BlockQ4_1], xs: &[&[f32]], out: &mut [f32; TILE]) {
        // SAFETY (every arm): the caller's CPU supports AVX2 and FMA; `tile` checks lengths.
        match xs.len() {
            1 => unsafe { tile::<_, 1>(w, xs, out, |b| dequantize_q4_1(b)) },
            2 => unsafe { tile::<_, 2>(w, xs, out, |b| dequantize_q4_1(b)) },
            3 => unsafe { tile::<_, 3>(w, xs, out, |b| dequantize_q4_1(b)) },
            _ => unsafe { tile::<_, TILE>(w, xs, out, |b| dequantize_q4_1(b)) },
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_q8_0(w: &[BlockQ8_0], xs: &[&[f32]], out: &mut [f32; TILE]) {
        // SAFETY (every arm): the caller's CPU supports AVX2 and FMA; `tile` checks lengths.
        match xs.len() {
            1 => unsafe { tile::<_, 1>(w, xs, out, |b| dequantize_q8_0(b)) },
            2 => unsafe { tile::<_, 2>(w, xs, out, |b| dequantize_q8_0(b)) },
            3 => unsafe { tile::<_, 3>(w, xs, out, |b| dequantize_q8_0(b)) },
            _ => unsafe { tile::<_, TILE>(w, xs, out, |b| dequantize_q8_0(b)) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test data.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
        fn f32(&mut self) -> f32 {
            self.next() as f32 / (1u64 << 31) as f32 - 0.5
        }
    }

    fn random_matrix(rng: &mut Lcg, rows: usize, cols: usize, q8: bool) -> Matrix {
        let nb = rows * cols / QK;
        let weights = if q8 {
            Weights::Q8_0(
                (0..nb)
                    .map(|_| BlockQ8_0 { d: rng.f32() * 0.1, qs: std::array::from_fn(|_| rng.next() as u8 as i8) })
                    .collect(),
            )
        } else {
            Weights::Q4_1(
                (0..nb)
                    .map(|_| BlockQ4_1 {
                        d: rng.f32() * 0.1,
                        m: rng.f32() * 0.5,
                        qs: std::array::from_fn(|_| rng.next() as u8),
                    })
                    .collect(),
            )
        };
        Matrix { rows, cols, weights }
    }

    fn product(m: &Matrix, kernel: Kernel, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = vec![0f32; n * m.rows];
        m.matmul(kernel, x, n, 0..m.rows, &mut y);
        y
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn kernels_agree_bit_for_bit_and_are_batch_invariant() {
        let mut rng = Lcg(7);
        for (q8, n) in [(false, 7), (true, 7), (false, 2), (true, 3), (false, 1)] {
            let m = random_matrix(&mut rng, 39, 96, q8);
            let x: Vec<f32> = (0..n * m.cols).map(|_| rng.f32() * 4.0).collect();
            let portable = product(&m, Kernel::Portable, &x, n);
            let fast = product(&m, Kernel::detect(), &x, n);
            assert_eq!(bits(&portable), bits(&fast), "q8={q8}");
            for t in 0..n {
                let one = product(&m, Kernel::detect(), &x[t * m.cols..(t + 1) * m.cols], 1);
                assert_eq!(bits(&one), bits(&fast[t * m.rows..(t + 1) * m.rows]), "q8={q8} t={t}");
            }
        }
    }

    #[test]
    fn f32_dot_products_agree_bit_for_bit() {
        let mut rng = Lcg(3);
        for len in [0, 1, 7, 8, 9, 64, 77] {
            let a: Vec<f32> = (0..len).map(|_| rng.f32()).collect();
            let b: Vec<f32> = (0..len).map(|_| rng.f32()).collect();
            let portable = dot_f32(&a, &b);
            assert_eq!(portable.to_bits(), dot_f32_with(Kernel::detect(), &a, &b).to_bits(), "len {len}");
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(portable) - exact).abs() < 1e-5);
        }
    }

    #[test]
    fn quantized_product_matches_the_dequantized_weights() {
        let mut rng = Lcg(11);
        let m = random_matrix(&mut rng, 5, 64, false);
        let x: Vec<f32> = (0..m.cols).map(|_| rng.f32()).collect();
        let y = product(&m, Kernel::detect(), &x, 1);
        let mut row = vec![0f32; m.cols];
        for (r, &got) in y.iter().enumerate() {
            m.row_f32(r, &mut row);
            let exact: f32 = row.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!((got - exact).abs() < 1e-4 * (1.0 + exact.abs()), "row {r}: {got} vs {exact}");
        }
    }
}
