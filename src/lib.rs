//! mmgame: a solver for the two-market-maker liquidity game of the "Two Market Makers"
//! notebook, on the CPU (f64 reference) and on the GPU (wgpu compute shaders).
//!
//! Code map: [`model`] (economics, pure f64), [`grid`] (axes, nearest nodes, transition
//! tables), [`config`] (scenarios), [`cpu`] (reference solvers), [`simulate`] (the forward
//! path), [`output`] (files), [`app`] (the commands behind the CLI).

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod equilibrium_run;
pub mod error;
pub mod gpu;
pub mod grid;
pub mod model;
pub mod npy;
pub mod output;
pub mod plot;
pub mod refine;
pub mod report;
pub mod resources;
pub mod simulate;
pub mod solution;
pub mod sweep;
pub mod validate;

pub use error::Error;
