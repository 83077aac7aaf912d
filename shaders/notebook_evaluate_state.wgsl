// Shared by notebook_evaluate and notebook_step (no entry point): the evaluation at one state.
// It reads the bindings `actions0`, `actions1`, `v_old_next0`, `v_old_next1` that those kernels
// declare. CPU twin: evaluate_cell in src/cpu/notebook.rs.

// Both agents' values at time t of the state (fee, s0, s1) under the actions (c0, c1): the gain
// at the physical post-move point plus the previous iteration's value at t+1 at its nearest node.
fn evaluate_state(fee: u32, s0: u32, s1: u32, c0: u32, c1: u32) -> vec2<f32> {
    let ns = params.stake_points;
    let fee_entry = fee * PAIR_CODES + pair_index(c0, c1);
    let post_fee = posts[fee_entry];
    let post0 = posts[params.stake_post_at + s0 * ACTION_CODES + c0];
    let post1 = posts[params.stake_post_at + s1 * ACTION_CODES + c1];
    let next = (indices[params.fee_nearest_at + fee_entry] * ns
        + indices[params.stake_nearest_at + s0 * ACTION_CODES + c0]) * ns
        + indices[params.stake_nearest_at + s1 * ACTION_CODES + c1];
    return vec2<f32>(
        running_gain(0u, step, post_fee, post0, post1) * params.dt + v_old_next0[next],
        running_gain(1u, step, post_fee, post0, post1) * params.dt + v_old_next1[next],
    );
}
