// Shared by every kernel: the parameters, the running gain read from the host's tables, and
// index helpers. The Rust side prepends `real` (f32 or f64) and the constants WORKGROUP_SIZE,
// ACTION_CODES, PAIR_CODES, CONTROLS, PAIRS, ACTION_PACK_SHIFT, DIAGNOSTICS_STRIDE, NO_STATE
// and TIE_TOLERANCE (src/gpu/layout.rs), so no number is written twice. The model itself
// (phi, psi, discounting) is evaluated once on the host in f64 (src/gain.rs): the kernels only
// add, multiply and compare.

// Mirrors `Params` in src/gpu/layout.rs (a test compares them field by field with naga).
struct Params {
    fee_points: u32,
    stake_points: u32,
    slice_len: u32,
    // Test-only: the state whose chosen action is deliberately wrong (NO_STATE: none).
    perturbed_state: u32,
    // Where each table sits in `indices` (u32) ...
    fee_nearest_at: u32,
    fee_step_at: u32,
    stake_nearest_at: u32,
    stake_step_at: u32,
    action_change_at: u32,
    fee_lo_at: u32,
    fee_hi_at: u32,
    stake_lo_at: u32,
    stake_hi_at: u32,
    // ... and in `tables` (real).
    stake_factor0_at: u32,
    stake_factor1_at: u32,
    fee_gain_at: u32,
    holding_at: u32,
    fee_weight_at: u32,
    stake_weight_at: u32,
    _pad: u32,
}

// One dispatch: a time step, and for the best response the agent and where its partial sums go.
struct Step {
    time_index: u32,
    agent: u32,
    partials_at: u32,
    _pad: u32,
}

// gain_i·dt at the post-move point of state (fee, s0, s1) under action codes (c0, c1):
// fee_gain(t)·stake_factor_i − holding_i(t), in the order the CPU computes it.
// CPU twin: StepGains::gain_dt in src/gain.rs.
fn gain_dt(agent: u32, fee: u32, s0: u32, s1: u32, c0: u32, c1: u32) -> real {
    let ns4 = params.stake_points * ACTION_CODES;
    let entry0 = s0 * ACTION_CODES + c0;
    let entry1 = s1 * ACTION_CODES + c1;
    let factor_at = select(params.stake_factor0_at, params.stake_factor1_at, agent == 1u);
    let fee_gains = params.fee_gain_at + step.time_index * params.fee_points * PAIR_CODES;
    let holdings = params.holding_at + (step.time_index * 2u + agent) * ns4;
    let fee_gain = tables[fee_gains + fee * PAIR_CODES + pair_index(c0, c1)];
    let holding = tables[holdings + select(entry0, entry1, agent == 1u)];
    return fee_gain * tables[factor_at + entry0 * ns4 + entry1] - holding;
}

// The state this invocation handles, from a 1-D or 2-D dispatch (2-D when a slice needs more
// than the per-dimension limit of workgroups); `slice_len` or more means none.
fn state_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    return (workgroup.y * workgroups.x + workgroup.x) * WORKGROUP_SIZE + local;
}

// The notebook kernels' action code of `state` in its packed word: one byte per state, four to
// a u32 word, state s in byte s % 4 of word s / 4 (the host reads the words back as bytes).
fn code_at(word: u32, state: u32) -> u32 {
    return (word >> (8u * (state % 4u))) & 0xFFu;
}

// Index of the pair of action codes (c0, c1) in the per-fee tables.
fn pair_index(c0: u32, c1: u32) -> u32 {
    return c0 * ACTION_CODES + c1;
}
