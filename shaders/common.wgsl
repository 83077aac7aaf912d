// Shared by every kernel: the parameters, the model's response functions and running gain,
// and index helpers. The Rust side prepends the constants WORKGROUP_SIZE, ACTION_CODES and
// PAIR_CODES (src/gpu/layout.rs), so no number is written twice.

// Mirrors `Params` in src/gpu/layout.rs (a test checks the layout with naga).
struct Params {
    fee_points: u32,
    stake_points: u32,
    slice_len: u32,
    // Offsets of the index tables inside `indices` (see `Tables` in layout.rs).
    fee_nearest_at: u32,
    fee_step_at: u32,
    stake_nearest_at: u32,
    stake_step_at: u32,
    // Offset of the post-move stakes inside `posts` (the post-move fees start at 0).
    stake_post_at: u32,
    risk_weight: f32,
    fee_offset: f32,
    stake_slope: f32,
    stake_shift: f32,
    volatility0: f32,
    volatility1: f32,
    max_volume0: f32,
    max_volume1: f32,
    dt: f32,
    stake_response_at_zero: f32,
    // Offset of |value(a) - value(b)| per pair of codes inside `indices`.
    action_change_at: u32,
    _pad: u32,
}

// One dispatch: a time step, and for the best response the agent and where its partial sums go.
struct Step {
    time_index: u32,
    agent: u32,
    partials_at: u32,
    _pad: u32,
    // e^(-r t) and e^(rho_i t), computed in f64 on the CPU.
    discount: f32,
    growth0: f32,
    growth1: f32,
    _pad1: f32,
}

// phi(f) = 1/(c + offset) - c with c = clamp(f, 0, 1) (model.rs, FeeResponse::Reciprocal).
fn fee_response(fee: f32) -> f32 {
    let c = clamp(fee, 0.0, 1.0);
    return 1.0 / (c + params.fee_offset) - c;
}

// psi(S) = 1/(1 + exp(-slope S + shift)) - 1/(1 + exp(shift)) (model.rs, StakeResponse::Logistic).
fn stake_response(stake: f32) -> f32 {
    return 1.0 / (1.0 + exp(-params.stake_slope * stake + params.stake_shift)) - params.stake_response_at_zero;
}

// g_i(t, f, S0, S1) = e^(-r t)(f V_i - lambda sigma_i S_i) - e^(rho_i t) S_i (model.rs, Game::running_gain).
fn running_gain(agent: u32, step: Step, fee: f32, s0: f32, s1: f32) -> f32 {
    let own = select(s0, s1, agent == 1u);
    let volatility = select(params.volatility0, params.volatility1, agent == 1u);
    let max_volume = select(params.max_volume0, params.max_volume1, agent == 1u);
    let growth = select(step.growth0, step.growth1, agent == 1u);
    let total = s0 + s1;
    var volume = 0.0;
    if (total > 0.0) {
        volume = own / total * max_volume * fee_response(fee) * stake_response(total);
    }
    return step.discount * (fee * volume - params.risk_weight * volatility * own) - growth * own;
}

// The state this invocation handles, from a 1-D or 2-D dispatch (2-D when a slice needs more
// than the per-dimension limit of workgroups); `slice_len` or more means none.
fn state_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    return (workgroup.y * workgroups.x + workgroup.x) * WORKGROUP_SIZE + local;
}

// Index of the pair of action codes (c0, c1) in the per-fee tables.
fn pair_index(c0: u32, c1: u32) -> u32 {
    return c0 * ACTION_CODES + c1;
}
