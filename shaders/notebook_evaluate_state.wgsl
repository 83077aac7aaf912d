// Shared by notebook_evaluate and notebook_step (no entry point): the evaluation at one state.
// It reads the bindings `v_old_next0`, `v_old_next1` that those kernels declare.
// CPU twin: evaluate_cell in src/cpu/notebook.rs.

// Both agents' values at time t of the state (fee, s0, s1) under the actions (c0, c1): the gain
// at the physical post-move point plus the previous iteration's value at t+1 at its nearest node.
fn evaluate_state(fee: u32, s0: u32, s1: u32, c0: u32, c1: u32) -> array<real, 2> {
    let ns = params.stake_points;
    let fee_entry = fee * PAIR_CODES + pair_index(c0, c1);
    let next = (indices[params.fee_nearest_at + fee_entry] * ns
        + indices[params.stake_nearest_at + s0 * ACTION_CODES + c0]) * ns
        + indices[params.stake_nearest_at + s1 * ACTION_CODES + c1];
    return array<real, 2>(
        gain_dt(0u, fee, s0, s1, c0, c1) + v_old_next0[next],
        gain_dt(1u, fee, s0, s1, c0, c1) + v_old_next1[next],
    );
}
