// notebook_evaluate: both agents' values at time t at every state, from the actions a[., t]
// and the previous iteration's values at t+1 (evaluate_state in notebook_evaluate_state.wgsl).
// The actions are packed four to a word (code_at in common.wgsl).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<real>;
@group(0) @binding(4) var<storage, read> actions0: array<u32>;
@group(0) @binding(5) var<storage, read> actions1: array<u32>;
@group(0) @binding(6) var<storage, read> v_old_next0: array<real>;
@group(0) @binding(7) var<storage, read> v_old_next1: array<real>;
@group(0) @binding(8) var<storage, read_write> v_new0: array<real>;
@group(0) @binding(9) var<storage, read_write> v_new1: array<real>;

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
    let c0 = code_at(actions0[state / 4u], state);
    let c1 = code_at(actions1[state / 4u], state);
    let v = evaluate_state(state / (ns * ns), (state / ns) % ns, state % ns, c0, c1);
    v_new0[state] = v[0];
    v_new1[state] = v[1];
}
