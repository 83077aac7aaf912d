//! mmgame: a solver for the two-market-maker liquidity game of the "Two Market Makers"
//! notebook, on the CPU (f64 reference) and on the GPU (wgpu compute shaders).
//!
//! Layers, each using only those above it: [`model`] (economics, pure f64) → [`grid`] (axes,
//! nearest nodes, transition tables) → [`config`] (scenarios) → [`scheme`] (what both
//! backends' solvers share), [`gain`] (the running gain as tables, which both backends read),
//! [`team`] (the thread team) and [`simulate`] (the forward path) → [`cpu`] and [`gpu`] (the
//! solvers) → [`io`] (files) → [`api`] (`Solver`, `SolveOptions`, `Run`: the one entry point)
//! → [`tools`] (validate, refine, sweep, bench, plot) → [`cli`] (arguments, reports, exit
//! codes; the only module that prints).

pub mod api;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod error;
pub mod gain;
pub mod gpu;
pub mod grid;
pub mod io;
pub mod model;
pub mod resources;
pub mod scheme;
pub mod simulate;
pub mod team;
pub mod tools;

pub use error::Error;
