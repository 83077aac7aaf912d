// equilibrium_step: one time step of the equilibrium scheme at every state
// (equilibrium_state in equilibrium_state.wgsl: the nine pairs' payoffs at the clamped
// physical post-move points, exploitability, selection), both agents' values and actions;
// each workgroup reduces the step's diagnostics into `diagnostics`. Built twice: per state
// (with equilibrium_corners.wgsl), and after `equilibrium_lines` as stencils (with
// equilibrium_stencil.wgsl, which reads the lines instead of `v_next0`, `v_next1`).
// CPU twin: equilibrium_cell in src/cpu/equilibrium.rs.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read> tables: array<real>;
@group(0) @binding(4) var<storage, read> v_next0: array<real>;
@group(0) @binding(5) var<storage, read> v_next1: array<real>;
@group(0) @binding(6) var<storage, read_write> v_cur0: array<real>;
@group(0) @binding(7) var<storage, read_write> v_cur1: array<real>;
// One pair code (a byte) per state, four states to a u32 word (state s in byte s % 4 of word
// s / 4, so the host reads the words back as bytes): agent 0's action code in the low bits,
// agent 1's shifted by ACTION_PACK_SHIFT. The host reads back 1 byte per state, not 4.
@group(0) @binding(8) var<storage, read_write> actions: array<u32>;
// Per workgroup, DIAGNOSTICS_STRIDE words: states without a pure equilibrium, with several,
// the largest selected exploitability (f32 bits; it is >= 0, so the bits order as the
// numbers do), states whose selection the tolerance decided.
@group(0) @binding(9) var<storage, read_write> diagnostics: array<u32>;

var<workgroup> no_pure: array<u32, WORKGROUP_SIZE>;
var<workgroup> several: array<u32, WORKGROUP_SIZE>;
var<workgroup> worst: array<u32, WORKGROUP_SIZE>;
var<workgroup> ambiguous: array<u32, WORKGROUP_SIZE>;
// WGSL has no byte stores, so invocations storing into one word would race: each invocation
// leaves its state's pair code here and the first of each four writes their word (the four
// are in one workgroup as WORKGROUP_SIZE % 4 == 0), as the notebook kernels do (new_codes).
var<workgroup> pair_codes: array<u32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn equilibrium_step(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    var found_none = 0u;
    var found_several = 0u;
    var selected_e = 0.0;
    var found_ambiguous = 0u;
    var pair = 0u;
    if (state < params.slice_len) {
        let ns = params.stake_points;
        let cell = equilibrium_state(state / (ns * ns), (state / ns) % ns, state % ns);
        // The test-only perturbation: agent 0 takes the next control at one state.
        var a0 = cell.chosen / CONTROLS;
        a0 = select(a0, (a0 + 1u) % CONTROLS, state == params.perturbed_state);
        v_cur0[state] = cell.values[0];
        v_cur1[state] = cell.values[1];
        pair = a0 | ((cell.chosen % CONTROLS) << ACTION_PACK_SHIFT);
        found_none = select(0u, 1u, cell.equilibria == 0u);
        found_several = select(0u, 1u, cell.equilibria > 1u);
        selected_e = f32(cell.exploitability);
        found_ambiguous = cell.ambiguous;
    }
    no_pure[local] = found_none;
    several[local] = found_several;
    worst[local] = bitcast<u32>(selected_e);
    ambiguous[local] = found_ambiguous;
    pair_codes[local] = pair;
    workgroupBarrier();
    // States past the slice left code 0 in their bytes of the last word.
    if (local % 4u == 0u && state < params.slice_len) {
        var word = 0u;
        for (var i = 0u; i < 4u; i++) {
            word |= (pair_codes[local + i] & 0xFFu) << (8u * i);
        }
        actions[state / 4u] = word;
    }
    for (var width = WORKGROUP_SIZE / 2u; width > 0u; width /= 2u) {
        if (local < width) {
            no_pure[local] += no_pure[local + width];
            several[local] += several[local + width];
            worst[local] = max(worst[local], worst[local + width]);
            ambiguous[local] += ambiguous[local + width];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        let group = workgroup.y * workgroups.x + workgroup.x;
        diagnostics[group * DIAGNOSTICS_STRIDE] = no_pure[0];
        diagnostics[group * DIAGNOSTICS_STRIDE + 1u] = several[0];
        diagnostics[group * DIAGNOSTICS_STRIDE + 2u] = worst[0];
        diagnostics[group * DIAGNOSTICS_STRIDE + 3u] = ambiguous[0];
    }
}
