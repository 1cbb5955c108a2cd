//! Small dense kernels shared by the linear policies and the linear worlds: a dot product whose
//! summation order is fixed (identical results on every machine, whatever instruction set runs
//! it) and fast at the sizes bandits use (d = 5 … 100).
//!
//! The dot product keeps eight interleaved partial sums: independent sums keep the
//! multiply-adds from waiting on one another (one running sum is bound by the latency of
//! floating-point addition). On x86-64 the eight sums live in four SSE2 registers (SSE2 is part
//! of the x86-64 baseline, so the kernel inlines into its callers); elsewhere they are a plain
//! array. Each lane adds the same products in the same order in both, and no fused
//! multiply-add is used, so the bits agree. (An AVX version chosen at run time was measured
//! slower at these sizes: the call cannot be inlined across the feature boundary.)

/// Σ a_i b_i over the common length, in a fixed order (see the module documentation).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let main = n - n % 8;
    let acc = partial_sums(&a[..main], &b[..main]);
    let mut tail = 0.0;
    for (x, y) in a[main..].iter().zip(&b[main..]) {
        tail += x * y;
    }
    let half = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    ((half[0] + half[1]) + (half[2] + half[3])) + tail
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
        }
        assert_eq!(partial_sums(&a[..main], &b[..main]), plain);
    }
}
