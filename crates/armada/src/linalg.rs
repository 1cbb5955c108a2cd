//! Small dense kernels shared by the linear policies and the linear worlds: a dot product whose
//! summation order is fixed (identical results on every machine, whatever instruction set runs
//! it) and fast at the sizes bandits use (d = 5 … 100).
//!
//! The dot product keeps eight interleaved partial sums: independent sums keep the
//! multiply-adds from waiting on one another (one running sum is bound by the latency of
//! floating-point addition). On x86-64 the eight sums live in four SSE2 registers (SSE2 is part
//! of the x86-64 baseline, so [`dot`] inlines anywhere), or in two AVX registers in code compiled
//! for AVX ([`dot_avx`], called from functions that checked [`has_avx`] once); elsewhere they are a
//! plain array. Each lane adds the same products in the same order in all three, and no fused
//! multiply-add is used, so the bits agree whichever runs.

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
    let main = n - n % 8;
    let acc = partial_sums_avx(&a[..main], &b[..main]);
    finish(acc, &a[main..], &b[main..])
}

/// The fixed-order reduction of the eight partial sums and the scalar tail.
#[inline(always)]
fn finish(acc: [f64; 8], tail_a: &[f64], tail_b: &[f64]) -> f64 {
    let mut tail = 0.0;
    for (x, y) in tail_a.iter().zip(tail_b) {
        tail += x * y;
    }
    let half = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    ((half[0] + half[1]) + (half[2] + half[3])) + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
fn partial_sums_avx(a: &[f64], b: &[f64]) -> [f64; 8] {
    use std::arch::x86_64::{_mm256_add_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_setzero_pd, _mm256_storeu_pd};
    let mut acc = [0.0f64; 8];
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut low, mut high) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < a.len() {
        // SAFETY: i + 8 <= len for both slices (lengths are equal multiples of 8).
        unsafe {
            low = _mm256_add_pd(low, _mm256_mul_pd(_mm256_loadu_pd(pa.add(i)), _mm256_loadu_pd(pb.add(i))));
            high = _mm256_add_pd(high, _mm256_mul_pd(_mm256_loadu_pd(pa.add(i + 4)), _mm256_loadu_pd(pb.add(i + 4))));
        }
        i += 8;
    }
    // SAFETY: acc holds 8 doubles; each store writes 4.
    unsafe {
        _mm256_storeu_pd(acc.as_mut_ptr(), low);
        _mm256_storeu_pd(acc.as_mut_ptr().add(4), high);
    }
    acc
}

/// Σ a_i b_i over the common length, in a fixed order (see the module documentation).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let main = n - n % 8;
    let acc = partial_sums(&a[..main], &b[..main]);
    finish(acc, &a[main..], &b[main..])
}

/// acc[l] = Σ_c a[8c + l] · b[8c + l], for equal lengths that are a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[inline]
fn partial_sums(a: &[f64], b: &[f64]) -> [f64; 8] {
    debug_assert!(a.len() == b.len() && a.len().is_multiple_of(8));
    partial_sums_sse2(a, b)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn partial_sums_sse2(a: &[f64], b: &[f64]) -> [f64; 8] {
    use std::arch::x86_64::{__m128d, _mm_add_pd, _mm_loadu_pd, _mm_mul_pd, _mm_setzero_pd, _mm_storeu_pd};
    let mut acc = [0.0f64; 8];
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: SSE2 is part of the x86-64 baseline; every load reads doubles i + 2r and
    // i + 2r + 1 with i + 8 <= len in both slices, and store r writes doubles 2r, 2r + 1 of acc.
    unsafe {
        let mut s: [__m128d; 4] = [_mm_setzero_pd(); 4];
        let mut i = 0;
        while i < a.len() {
            for (r, sr) in s.iter_mut().enumerate() {
                let (x, y) = (_mm_loadu_pd(pa.add(i + 2 * r)), _mm_loadu_pd(pb.add(i + 2 * r)));
                *sr = _mm_add_pd(*sr, _mm_mul_pd(x, y));
            }
            i += 8;
        }
        for (r, sr) in s.iter().enumerate() {
            _mm_storeu_pd(acc.as_mut_ptr().add(2 * r), *sr);
        }
    }
    acc
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn partial_sums(a: &[f64], b: &[f64]) -> [f64; 8] {
    let mut acc = [0.0f64; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
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
        let a: Vec<f64> = (0..37).map(|i| ((i * 7919) % 101) as f64 / 7.0 - 6.3).collect();
        let b: Vec<f64> = (0..37).map(|i| ((i * 104729) % 97) as f64 / 3.0 + 1e-3).collect();
        let main = 32;
        let mut plain = [0.0f64; 8];
        for (x, y) in a[..main].chunks_exact(8).zip(b[..main].chunks_exact(8)) {
            for l in 0..8 {
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
