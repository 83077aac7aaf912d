//! The CPU reference solvers (f64, multi-threaded), one module per scheme.

pub mod equilibrium;
pub mod gain;
pub mod notebook;
pub mod team;
