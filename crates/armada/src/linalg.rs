//! Small dense kernels shared by the linear policies and the linear worlds: a dot product whose
//! summation order is fixed (identical results on every machine, whatever instruction set runs
//! it) and fast at the sizes bandits use (d = 5 … 100).
//!
//! The dot product keeps sixteen interleaved partial sums ([`LANES`]): independent sums keep the
//! multiply-adds from waiting on one another (one running sum is bound by the latency of
//! floating-point addition). On x86-64 the sums live in eight SSE2 registers (SSE2 is part of
//! the x86-64 baseline, so [`dot`] inlines anywhere), or in four AVX registers in code compiled
//! for AVX ([`dot_avx`], called from functions that checked [`has_avx`] once); elsewhere they are
//! a plain array. Each lane adds the same products in the same order in all three, and no fused
//! multiply-add is used, so the bits agree whichever runs.

/// Number of interleaved partial sums in [`dot`].
pub const LANES: usize = 16;

/// Whether this CPU runs AVX code (checked once by callers that hold a kernel choice).
#[inline]
pub fn has_avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`dot`] compiled for AVX. Inlines into callers compiled with `#[target_feature(enable = "avx")]`.
///
/// # Safety
/// The CPU must support AVX ([`has_avx`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub unsafe fn dot_avx(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let main = n - n % LANES;
    let acc = partial_sums_avx(&a[..main], &b[..main]);
    finish(acc, &a[main..], &b[main..])
}

/// The fixed-order reduction of the eight partial sums and the scalar tail.
#[inline(always)]
fn finish(acc: [f64; LANES], tail_a: &[f64], tail_b: &[f64]) -> f64 {
    // The tail (fewer than 16 terms) in four more partial sums, so short products — the rows of
    // a packed triangle — are not one serial chain of additions either.
    let (quads_a, quads_b) = (tail_a.chunks_exact(4), tail_b.chunks_exact(4));
    let (rest_a, rest_b) = (quads_a.remainder(), quads_b.remainder());
    let mut four = [0.0f64; 4];
    for (x, y) in quads_a.zip(quads_b) {
        for l in 0..4 {
            four[l] += x[l] * y[l];
        }
    }
    let mut rest = 0.0;
    for (x, y) in rest_a.iter().zip(rest_b) {
        rest += x * y;
    }
    for l in 0..4 {
        four[l] += (acc[l] + acc[l + 8]) + (acc[l + 4] + acc[l + 12]);
    }
    ((four[0] + four[1]) + (four[2] + four[3])) + rest
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
fn partial_sums_avx(a: &[f64], b: &[f64]) -> [f64; LANES] {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let mut acc = [0.0f64; LANES];
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s: [__m256d; 4] = [_mm256_setzero_pd(); 4];
    let mut i = 0;
    while i < a.len() {
        for (r, sr) in s.iter_mut().enumerate() {
            // SAFETY: i + 4r + 4 <= i + 16 <= len for both slices (equal multiples of 16).
            let (x, y) = unsafe { (_mm256_loadu_pd(pa.add(i + 4 * r)), _mm256_loadu_pd(pb.add(i + 4 * r))) };
            *sr = _mm256_add_pd(*sr, _mm256_mul_pd(x, y));
        }
        i += LANES;
    }
    for (r, sr) in s.iter().enumerate() {
        // SAFETY: acc holds 16 doubles; store r writes doubles 4r .. 4r + 3.
        unsafe { _mm256_storeu_pd(acc.as_mut_ptr().add(4 * r), *sr) };
    }
    acc
}

/// Σ a_i b_i over the common length, in a fixed order (see the module documentation).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let main = n - n % LANES;
    let acc = partial_sums(&a[..main], &b[..main]);
    finish(acc, &a[main..], &b[main..])
}

/// acc[l] = Σ_c a[16c + l] · b[16c + l], for equal lengths that are a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[inline]
fn partial_sums(a: &[f64], b: &[f64]) -> [f64; LANES] {
    debug_assert!(a.len() == b.len() && a.len().is_multiple_of(LANES));
    partial_sums_sse2(a, b)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn partial_sums_sse2(a: &[f64], b: &[f64]) -> [f64; LANES] {
    use std::arch::x86_64::{__m128d, _mm_add_pd, _mm_loadu_pd, _mm_mul_pd, _mm_setzero_pd, _mm_storeu_pd};
    let mut acc = [0.0f64; LANES];
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: SSE2 is part of the x86-64 baseline; every load reads doubles i + 2r and
    // i + 2r + 1 with i + 16 <= len in both slices, and store r writes doubles 2r, 2r + 1 of acc.
    unsafe {
        let mut s: [__m128d; 8] = [_mm_setzero_pd(); 8];
        let mut i = 0;
        while i < a.len() {
            for (r, sr) in s.iter_mut().enumerate() {
                let (x, y) = (_mm_loadu_pd(pa.add(i + 2 * r)), _mm_loadu_pd(pb.add(i + 2 * r)));
                *sr = _mm_add_pd(*sr, _mm_mul_pd(x, y));
            }
            i += LANES;
        }
        for (r, sr) in s.iter().enumerate() {
            _mm_storeu_pd(acc.as_mut_ptr().add(2 * r), *sr);
        }
    }
    acc
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn partial_sums(a: &[f64], b: &[f64]) -> [f64; LANES] {
    let mut acc = [0.0f64; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_sums_every_term() {
        for n in 0..40 {
            let a: Vec<f64> = (0..n).map(|i| i as f64 + 1.0).collect();
            let want: f64 = a.iter().map(|v| v * v).sum();
            assert_eq!(dot(&a, &a), want, "n={n}");
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        // Values whose sums round differently in different orders.
        let a: Vec<f64> = (0..69).map(|i| ((i * 7919) % 101) as f64 / 7.0 - 6.3).collect();
        let b: Vec<f64> = (0..69).map(|i| ((i * 104729) % 97) as f64 / 3.0 + 1e-3).collect();
        let main = 64;
        let mut plain = [0.0f64; LANES];
        for (x, y) in a[..main].chunks_exact(LANES).zip(b[..main].chunks_exact(LANES)) {
            for l in 0..LANES {
                plain[l] += x[l] * y[l];
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(partial_sums_sse2(&a[..main], &b[..main]), plain);
            if has_avx() {
                // SAFETY: AVX is available (checked).
                assert_eq!(unsafe { partial_sums_avx(&a[..main], &b[..main]) }, plain);
                assert_eq!(unsafe { dot_avx(&a, &b) }.to_bits(), dot(&a, &b).to_bits());
            }
        }
        assert_eq!(partial_sums(&a[..main], &b[..main]), plain);
    }
}
