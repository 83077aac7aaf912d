// notebook_evaluate: both agents' values at time t, from the actions a[., t] and the previous
// iteration's values at t+1 at the nearest node of the physical post-move point.
// CPU twin: evaluate_cell in src/cpu/notebook.rs.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> posts: array<f32>;
@group(0) @binding(4) var<storage, read> actions0: array<u32>;
@group(0) @binding(5) var<storage, read> actions1: array<u32>;
@group(0) @binding(6) var<storage, read> v_old_next0: array<f32>;
@group(0) @binding(7) var<storage, read> v_old_next1: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_new0: array<f32>;
@group(0) @binding(9) var<storage, read_write> v_new1: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn notebook_evaluate(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    if (state >= params.slice_len) {
        return;
    }
    let ns = params.stake_points;
    let fee = state / (ns * ns);
    let s0 = (state / ns) % ns;
    let s1 = state % ns;
    let c0 = actions0[state];
    let c1 = actions1[state];
    let fee_entry = fee * PAIR_CODES + pair_index(c0, c1);
    let post_fee = posts[fee_entry];
    let post0 = posts[params.stake_post_at + s0 * ACTION_CODES + c0];
    let post1 = posts[params.stake_post_at + s1 * ACTION_CODES + c1];
    let next = (indices[params.fee_nearest_at + fee_entry] * ns
        + indices[params.stake_nearest_at + s0 * ACTION_CODES + c0]) * ns
        + indices[params.stake_nearest_at + s1 * ACTION_CODES + c1];
    v_new0[state] = running_gain(0u, step, post_fee, post0, post1) * params.dt + v_old_next0[next];
    v_new1[state] = running_gain(1u, step, post_fee, post0, post1) * params.dt + v_old_next1[next];
}
