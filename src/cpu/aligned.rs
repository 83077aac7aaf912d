//! Row buffers that start on a cache line.
//!
//! The vector loops load whole 64-byte vectors from rows whose length is a multiple of a
//! cache line, so a buffer that starts on a line keeps every such load inside one line. A
//! `Vec<f64>` starts where the allocator puts it: for the large buffers here glibc returns
//! 16 bytes past a page boundary, so every AVX-512 load from them straddled two lines.

use bytemuck::{Pod, Zeroable};

/// One cache line of f64.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
struct Line([f64; 8]);

/// A zero-initialised f64 buffer whose first element starts a cache line.
pub struct AlignedRows {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedRows {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        AlignedRows {
            lines: vec![Line([0.0; 8]); len.div_ceil(8)],
            len,
        }
    }
}

impl std::ops::Deref for AlignedRows {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &bytemuck::cast_slice(&self.lines)[..self.len]
    }
}

impl std::ops::DerefMut for AlignedRows {
    fn deref_mut(&mut self) -> &mut [f64] {
        &mut bytemuck::cast_slice_mut(&mut self.lines)[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_start_on_a_cache_line_and_hold_what_is_written() {
        for len in [1, 7, 8, 9, 1000, 1 << 20] {
            let mut rows = AlignedRows::zeros(len);
            assert_eq!(rows.len(), len);
            assert_eq!(rows.as_ptr() as usize % 64, 0);
            assert!(rows.iter().all(|&x| x == 0.0));
            rows[len - 1] = 2.5;
            assert_eq!(rows[len - 1], 2.5);
        }
    }
}
