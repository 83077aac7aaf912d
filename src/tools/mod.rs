//! Tools over the [`crate::api`]: CPU-versus-GPU validation, grid refinement, parameter
//! sweeps, benchmarks and plots. None of them prints; each returns what it found (and calls
//! back as it goes, where a long run has something to show), and the CLI reports it.

pub mod bench;
pub mod plot;
pub mod projection;
pub mod refine;
pub mod slice;
pub mod sweep;
pub mod validate;
