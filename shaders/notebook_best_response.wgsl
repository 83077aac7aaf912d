// notebook_best_response: agent `step.agent`'s best response at time t at every state
// (best_response_state in notebook_best_response_state.wgsl), run for agent 0 then agent 1 as
// the notebook orders them; each workgroup sums its states' policy changes into `partials`.
// The actions are packed four to a word: see new_codes in notebook_best_response_state.wgsl.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<real>;
@group(0) @binding(4) var<storage, read_write> actions0: array<u32>;
@group(0) @binding(5) var<storage, read_write> actions1: array<u32>;
@group(0) @binding(6) var<storage, read> v_new_next0: array<real>;
@group(0) @binding(7) var<storage, read> v_new_next1: array<real>;
@group(0) @binding(8) var<storage, read_write> partials: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn notebook_best_response(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    var changed = 0u;
    var code = 0u;
    if (state < params.slice_len) {
        let ns = params.stake_points;
        let fee = state / (ns * ns);
        let s0 = (state / ns) % ns;
        let s1 = state % ns;
        let word = state / 4u;
        if (step.agent == 0u) {
            let old = code_at(actions0[word], state);
            let other = code_at(actions1[word], state);
            code = perturbed(state, best_response_state(0u, fee, s0, s1, other));
            changed = action_change(old, code);
        } else {
            let old = code_at(actions1[word], state);
            code = best_response_state(1u, fee, s0, s1, code_at(actions0[word], state));
            changed = action_change(old, code);
        }
    }
    new_codes[local] = code;
    store_workgroup_change(workgroup, workgroups, local, changed);
    storageBarrier();
    if (writes_word(state, local)) {
        if (step.agent == 0u) {
            actions0[state / 4u] = packed_codes(local, 0u);
        } else {
            actions1[state / 4u] = packed_codes(local, 0u);
        }
    }
}
