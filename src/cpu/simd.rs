//! f64 vectors of each instruction set, as far as the equilibrium stage game needs them.
//!
//! The stage game (`stencil.rs`) is a chain of compares and selects over the nine action
//! pairs; written as plain loops the compiler left most of it scalar (measured with `perf
//! annotate`: the selection walk ran in xmm registers). Written against this trait it keeps
//! a whole vector of states in registers. Every method is `#[inline(always)]`, so that it is
//! inlined into the `#[target_feature]` copies that `isa::dispatch!` makes, and compiles to
//! one or two instructions there. Code that calls these methods must not sit in a closure:
//! a closure is a function of its own, without the copy's target features, so its vector
//! instructions become calls (measured several times here: up to twice the solve's time).
//!
//! `max` and `min` are the instructions' (for equal operands or a NaN they return the second
//! one), not `f64::max`: with finite inputs the two agree except for the sign of a zero
//! result, which no comparison or output of the stage game can see.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A vector of `N` f64 lanes and its lane mask.
pub trait Simd: Copy {
    type V: Copy;
    type M: Copy;
    const N: usize;
    /// Lanes `0..N` of `x`.
    fn load(x: &[f64]) -> Self::V;
    /// Lanes `at..at + N` of `x`, without the bounds check of `load(&x[at..])`: the
    /// stencil's inner loop makes ~100 loads per vector of states, and their checks cost
    /// ~10% of a solve (measured). The one-lane fallback keeps the check.
    ///
    /// # Safety
    /// `at + N <= x.len()`.
    #[inline(always)]
    unsafe fn load_unchecked(x: &[f64], at: usize) -> Self::V {
        Self::load(&x[at..])
    }
    fn store(v: Self::V, out: &mut [f64]);
    fn splat(x: f64) -> Self::V;
    fn add(a: Self::V, b: Self::V) -> Self::V;
    fn sub(a: Self::V, b: Self::V) -> Self::V;
    fn mul(a: Self::V, b: Self::V) -> Self::V;
    fn max(a: Self::V, b: Self::V) -> Self::V;
    fn min(a: Self::V, b: Self::V) -> Self::V;
    fn abs(a: Self::V) -> Self::V;
    /// a ≤ b (false where either is NaN).
    fn le(a: Self::V, b: Self::V) -> Self::M;
    /// a < b (false where either is NaN).
    fn lt(a: Self::V, b: Self::V) -> Self::M;
    fn and(a: Self::M, b: Self::M) -> Self::M;
    fn or(a: Self::M, b: Self::M) -> Self::M;
    /// Whether any lane of `m` is set.
    fn any(m: Self::M) -> bool;
    /// Stores the lanes, whole numbers 0 to 255, as `N` bytes. With vector instructions:
    /// storing the vector and reading its lanes back one by one stalls on every read (a wide
    /// store does not forward to narrow loads), which cost more than the rest of the notebook
    /// scheme's vector path (measured).
    fn store_bytes(v: Self::V, out: &mut [u8]);
    /// `yes` where `m`, else `no`.
    fn select(m: Self::M, yes: Self::V, no: Self::V) -> Self::V;
    /// a + b where `m`, else a (one masked instruction with AVX-512).
    #[inline(always)]
    fn add_where(m: Self::M, a: Self::V, b: Self::V) -> Self::V {
        Self::select(m, Self::add(a, b), a)
    }
    /// max(a, b) where `m`, else a (one masked instruction with AVX-512).
    #[inline(always)]
    fn max_where(m: Self::M, a: Self::V, b: Self::V) -> Self::V {
        Self::select(m, Self::max(a, b), a)
    }
}

/// One lane: the fallback for other architectures.
#[derive(Clone, Copy)]
pub struct Scalar;

impl Simd for Scalar {
    type V = f64;
    type M = bool;
    const N: usize = 1;
    #[inline(always)]
    fn load(x: &[f64]) -> f64 {
        x[0]
    }
    #[inline(always)]
    fn store(v: f64, out: &mut [f64]) {
        out[0] = v;
    }
    #[inline(always)]
    fn splat(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn add(a: f64, b: f64) -> f64 {
        a + b
    }
    #[inline(always)]
    fn sub(a: f64, b: f64) -> f64 {
        a - b
    }
    #[inline(always)]
    fn mul(a: f64, b: f64) -> f64 {
        a * b
    }
    #[inline(always)]
    fn max(a: f64, b: f64) -> f64 {
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn min(a: f64, b: f64) -> f64 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn abs(a: f64) -> f64 {
        a.abs()
    }
    #[inline(always)]
    fn le(a: f64, b: f64) -> bool {
        a <= b
    }
    #[inline(always)]
    fn lt(a: f64, b: f64) -> bool {
        a < b
    }
    #[inline(always)]
    fn and(a: bool, b: bool) -> bool {
        a & b
    }
    #[inline(always)]
    fn or(a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    fn any(m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn store_bytes(v: f64, out: &mut [u8]) {
        out[0] = v as u8;
    }
    #[inline(always)]
    fn select(m: bool, yes: f64, no: f64) -> f64 {
        if m {
            yes
        } else {
            no
        }
    }
}

/// SSE2 (every x86-64 CPU): two lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Sse2;

// SAFETY (all three x86 impls): loads and stores check the slice length first; the other
// intrinsics only need their instruction set, which every x86-64 CPU has for SSE2 and which
// `isa::dispatch!` checks before it calls code built for AVX2 or AVX-512.
#[cfg(target_arch = "x86_64")]
impl Simd for Sse2 {
    type V = __m128d;
    type M = __m128d;
    const N: usize = 2;
    #[inline(always)]
    fn load(x: &[f64]) -> __m128d {
        assert!(x.len() >= 2);
        unsafe { _mm_loadu_pd(x.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_unchecked(x: &[f64], at: usize) -> __m128d {
        debug_assert!(at + 2 <= x.len());
        unsafe { _mm_loadu_pd(x.as_ptr().add(at)) }
    }
    #[inline(always)]
    fn store(v: __m128d, out: &mut [f64]) {
        assert!(out.len() >= 2);
        unsafe { _mm_storeu_pd(out.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn splat(x: f64) -> __m128d {
        unsafe { _mm_set1_pd(x) }
    }
    #[inline(always)]
    fn add(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_mul_pd(a, b) }
    }
    #[inline(always)]
    fn max(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_max_pd(a, b) }
    }
    #[inline(always)]
    fn min(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_min_pd(a, b) }
    }
    #[inline(always)]
    fn abs(a: __m128d) -> __m128d {
        unsafe { _mm_andnot_pd(_mm_set1_pd(-0.0), a) }
    }
    #[inline(always)]
    fn le(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_cmple_pd(a, b) }
    }
    #[inline(always)]
    fn lt(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_cmplt_pd(a, b) }
    }
    #[inline(always)]
    fn and(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_and_pd(a, b) }
    }
    #[inline(always)]
    fn or(a: __m128d, b: __m128d) -> __m128d {
        unsafe { _mm_or_pd(a, b) }
    }
    #[inline(always)]
    fn any(m: __m128d) -> bool {
        unsafe { _mm_movemask_pd(m) != 0 }
    }
    #[inline(always)]
    fn store_bytes(v: __m128d, out: &mut [u8]) {
        let bytes = unsafe {
            let words = _mm_cvttpd_epi32(v);
            _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(words, words), words))
        };
        out[..2].copy_from_slice(&bytes.to_le_bytes()[..2]);
    }
    #[inline(always)]
    fn select(m: __m128d, yes: __m128d, no: __m128d) -> __m128d {
        unsafe { _mm_or_pd(_mm_and_pd(m, yes), _mm_andnot_pd(m, no)) }
    }
}

/// AVX2: four lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    type V = __m256d;
    type M = __m256d;
    const N: usize = 4;
    #[inline(always)]
    fn load(x: &[f64]) -> __m256d {
        assert!(x.len() >= 4);
        unsafe { _mm256_loadu_pd(x.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_unchecked(x: &[f64], at: usize) -> __m256d {
        debug_assert!(at + 4 <= x.len());
        unsafe { _mm256_loadu_pd(x.as_ptr().add(at)) }
    }
    #[inline(always)]
    fn store(v: __m256d, out: &mut [f64]) {
        assert!(out.len() >= 4);
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn splat(x: f64) -> __m256d {
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline(always)]
    fn add(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline(always)]
    fn max(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_max_pd(a, b) }
    }
    #[inline(always)]
    fn min(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_min_pd(a, b) }
    }
    #[inline(always)]
    fn abs(a: __m256d) -> __m256d {
        unsafe { _mm256_andnot_pd(_mm256_set1_pd(-0.0), a) }
    }
    #[inline(always)]
    fn le(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_cmp_pd::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn lt(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_cmp_pd::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn and(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_and_pd(a, b) }
    }
    #[inline(always)]
    fn or(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_or_pd(a, b) }
    }
    #[inline(always)]
    fn any(m: __m256d) -> bool {
        unsafe { _mm256_movemask_pd(m) != 0 }
    }
    #[inline(always)]
    fn store_bytes(v: __m256d, out: &mut [u8]) {
        let bytes = unsafe {
            let words = _mm256_cvttpd_epi32(v);
            _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(words, words), words))
        };
        out[..4].copy_from_slice(&bytes.to_le_bytes());
    }
    #[inline(always)]
    fn select(m: __m256d, yes: __m256d, no: __m256d) -> __m256d {
        unsafe { _mm256_blendv_pd(no, yes, m) }
    }
}

/// AVX-512: eight lanes and mask registers.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx512 {
    type V = __m512d;
    type M = __mmask8;
    const N: usize = 8;
    #[inline(always)]
    fn load(x: &[f64]) -> __m512d {
        assert!(x.len() >= 8);
        unsafe { _mm512_loadu_pd(x.as_ptr()) }
    }
    #[inline(always)]
    unsafe fn load_unchecked(x: &[f64], at: usize) -> __m512d {
        debug_assert!(at + 8 <= x.len());
        unsafe { _mm512_loadu_pd(x.as_ptr().add(at)) }
    }
    #[inline(always)]
    fn store(v: __m512d, out: &mut [f64]) {
        assert!(out.len() >= 8);
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn splat(x: f64) -> __m512d {
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline(always)]
    fn add(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_mul_pd(a, b) }
    }
    #[inline(always)]
    fn max(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_max_pd(a, b) }
    }
    #[inline(always)]
    fn min(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_min_pd(a, b) }
    }
    #[inline(always)]
    fn abs(a: __m512d) -> __m512d {
        unsafe { _mm512_abs_pd(a) }
    }
    #[inline(always)]
    fn le(a: __m512d, b: __m512d) -> __mmask8 {
        unsafe { _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn lt(a: __m512d, b: __m512d) -> __mmask8 {
        unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn and(a: __mmask8, b: __mmask8) -> __mmask8 {
        a & b
    }
    #[inline(always)]
    fn or(a: __mmask8, b: __mmask8) -> __mmask8 {
        a | b
    }
    #[inline(always)]
    fn any(m: __mmask8) -> bool {
        m != 0
    }
    #[inline(always)]
    fn store_bytes(v: __m512d, out: &mut [u8]) {
        let bytes = unsafe { _mm_cvtsi128_si64(_mm512_cvtepi64_epi8(_mm512_cvttpd_epi64(v))) };
        out[..8].copy_from_slice(&bytes.to_le_bytes());
    }
    #[inline(always)]
    fn select(m: __mmask8, yes: __m512d, no: __m512d) -> __m512d {
        unsafe { _mm512_mask_blend_pd(m, no, yes) }
    }
    #[inline(always)]
    fn add_where(m: __mmask8, a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_mask_add_pd(a, m, a, b) }
    }
    #[inline(always)]
    fn max_where(m: __mmask8, a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_mask_max_pd(a, m, a, b) }
    }
}
