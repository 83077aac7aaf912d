// notebook_best_response: one agent's best control at time t against the other agent's
// current action, scored by the gain at the physical post-move point plus this iteration's
// value at t+1 on the node stepped by whole cells; the first control with the largest total
// wins. Each workgroup also sums |a_new - a_old| over its states into `partials` (the first
// level of the policy-change reduction; notebook_policy_change.wgsl is the second).
// CPU twin: best_response_cell in src/cpu/notebook.rs.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> posts: array<f32>;
@group(0) @binding(4) var<storage, read_write> own_actions: array<u32>;
@group(0) @binding(5) var<storage, read> other_actions: array<u32>;
@group(0) @binding(6) var<storage, read> v_new_next: array<f32>;
@group(0) @binding(7) var<storage, read_write> partials: array<u32>;

var<workgroup> change: array<u32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn notebook_best_response(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    var changed = 0u;
    if (state < params.slice_len) {
        let ns = params.stake_points;
        let fee = state / (ns * ns);
        let s0 = (state / ns) % ns;
        let s1 = state % ns;
        let old = own_actions[state];
        let other = other_actions[state];
        var best = 0u;
        var best_total = 0.0;
        for (var own = 0u; own < 3u; own++) {
            let c0 = select(own, other, step.agent == 1u);
            let c1 = select(other, own, step.agent == 1u);
            let fee_entry = fee * PAIR_CODES + pair_index(c0, c1);
            let post_fee = posts[fee_entry];
            let post0 = posts[params.stake_post_at + s0 * ACTION_CODES + c0];
            let post1 = posts[params.stake_post_at + s1 * ACTION_CODES + c1];
            let next = (indices[params.fee_step_at + fee_entry] * ns
                + indices[params.stake_step_at + s0 * ACTION_CODES + c0]) * ns
                + indices[params.stake_step_at + s1 * ACTION_CODES + c1];
            let total = running_gain(step.agent, step, post_fee, post0, post1) * params.dt + v_new_next[next];
            if (own == 0u || total > best_total) {
                best = own;
                best_total = total;
            }
        }
        own_actions[state] = best;
        changed = indices[params.action_change_at + old * ACTION_CODES + best];
    }
    // Tree reduction of the workgroup's changes; every invocation takes part in the barriers.
    change[local] = changed;
    workgroupBarrier();
    for (var width = WORKGROUP_SIZE / 2u; width > 0u; width /= 2u) {
        if (local < width) {
            change[local] += change[local + width];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        partials[step.partials_at + workgroup.y * workgroups.x + workgroup.x] = change[0];
    }
}
