// notebook_step: one time step at every state in one dispatch: evaluate, then agent 0's and
// agent 1's best responses (the three kernels back to back per state, as the CPU's step_row
// runs them). Valid because each state reads only its own actions: evaluation at t reads
// a[., t] and v_old[t+1], the best responses a[., t] and v_new[t+1] (docs/model.md). It reads the
// actions once and writes them once (packed four to a word, each word by one invocation: see
// new_codes in notebook_best_response_state.wgsl), and needs 11 storage buffers; where an
// adapter allows fewer, notebook_evaluate and notebook_best_response run instead.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<real>;
@group(0) @binding(4) var<storage, read_write> actions0: array<u32>;
@group(0) @binding(5) var<storage, read_write> actions1: array<u32>;
@group(0) @binding(6) var<storage, read> v_old_next0: array<real>;
@group(0) @binding(7) var<storage, read> v_old_next1: array<real>;
@group(0) @binding(8) var<storage, read> v_new_next0: array<real>;
@group(0) @binding(9) var<storage, read> v_new_next1: array<real>;
@group(0) @binding(10) var<storage, read_write> v_new0: array<real>;
@group(0) @binding(11) var<storage, read_write> v_new1: array<real>;
@group(0) @binding(12) var<storage, read_write> partials: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn notebook_step(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    var changed = 0u;
    var codes = 0u;
    if (state < params.slice_len) {
        let ns = params.stake_points;
        let fee = state / (ns * ns);
        let s0 = (state / ns) % ns;
        let s1 = state % ns;
        let old0 = code_at(actions0[state / 4u], state);
        let old1 = code_at(actions1[state / 4u], state);
        let v = evaluate_state(fee, s0, s1, old0, old1);
        v_new0[state] = v[0];
        v_new1[state] = v[1];
        let new0 = perturbed(state, best_response_state(0u, fee, s0, s1, old1));
        let new1 = best_response_state(1u, fee, s0, s1, new0);
        codes = new0 | (new1 << 8u);
        changed = action_change(old0, new0) + action_change(old1, new1);
    }
    new_codes[local] = codes;
    store_workgroup_change(workgroup, workgroups, local, changed);
    storageBarrier();
    if (writes_word(state, local)) {
        actions0[state / 4u] = packed_codes(local, 0u);
        actions1[state / 4u] = packed_codes(local, 8u);
    }
}
