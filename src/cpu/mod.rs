//! The CPU reference solvers (f64, on the thread team), one module per scheme.

pub mod aligned;
pub mod equilibrium;
pub mod isa;
pub mod notebook;
pub mod notebook_rows;
pub mod simd;
pub mod stencil;
