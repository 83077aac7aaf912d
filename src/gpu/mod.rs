//! The GPU solvers: wgpu compute shaders (f32), one module per scheme, plus the context
//! (adapter, device, limits) and the layout shared with the WGSL kernels.

pub mod context;
pub mod equilibrium;
pub mod layout;
pub mod notebook;
