//! What a solver returns, whichever the scheme and backend.

/// Value arrays: f64 from the CPU, f32 from the GPU.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F64(Vec<f64>),
    F32(Vec<f32>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> f64 {
        match self {
            Values::F64(v) => v[i],
            Values::F32(v) => v[i] as f64,
        }
    }

    pub fn precision(&self) -> &'static str {
        match self {
            Values::F64(_) => "f64",
            Values::F32(_) => "f32",
        }
    }
}

/// A solved scenario: the values and the policy over (agent, time, fee, stake0, stake1), and
/// how the solve went.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Shape of `values` and `policy`: (2, time_points, fee_points, stake_points, stake_points).
    pub shape: [usize; 5],
    pub values: Values,
    /// Action codes (see [`crate::grid::Actions`]), same layout as `values`.
    pub policy: Vec<u8>,
    /// The policy change of each iteration (the notebook's `diff_pol`).
    pub policy_change: Vec<f64>,
    pub converged: bool,
    pub solve_seconds: f64,
}

impl Solution {
    pub fn iterations(&self) -> usize {
        self.policy_change.len()
    }

    /// Cell updates: one grid state at one time step for both agents (see MODEL.md).
    pub fn cell_updates(&self) -> f64 {
        let [_, nt, nf, ns, _] = self.shape;
        (nf * ns * ns) as f64 * (nt - 1) as f64 * self.iterations() as f64
    }

    pub fn cell_updates_per_second(&self) -> f64 {
        self.cell_updates() / self.solve_seconds.max(1e-12)
    }

    /// Flat index of (agent, time, fee, stake0, stake1).
    pub fn index(&self, agent: usize, time: usize, fee: usize, s0: usize, s1: usize) -> usize {
        let [_, nt, nf, ns, _] = self.shape;
        (((agent * nt + time) * nf + fee) * ns + s0) * ns + s1
    }
}
