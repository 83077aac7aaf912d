// The equilibrium time step as stencils (the CPU's design, src/cpu/stencil.rs): the kernel
// `equilibrium_lines` first blends V(t+1) along stake1 for each agent and each of agent 1's
// three controls ("lines"), once per state; then equilibrium_step's `interpolate` (below)
// blends four line values along stake0 and fee instead of eight corners along all three
// axes. The operations and their order are those of equilibrium_corners.wgsl, so the two
// kernels give the same results; this one halves the value loads and does the stake1
// bracket lookups once per state and control instead of once per pair and agent.
// It reads the bindings `v_next0`, `v_next1` and the lines declared here.

// V(t+1) of agent i blended along stake1 at the move of agent 1's control c, at every state
// of the slice: `lines{i}`, control-major (c × slice_len + state). Written by
// equilibrium_lines, read by equilibrium_step. One binding per agent rather than per
// control: a line slice chosen by a switch made the kernel a quarter slower on lavapipe than
// the per-state one, an index costs nothing.
@group(0) @binding(10) var<storage, read_write> lines0: array<real>;
@group(0) @binding(11) var<storage, read_write> lines1: array<real>;

fn line_value(agent: u32, c1: u32, state: u32) -> real {
    let at = c1 * params.slice_len + state;
    if (agent == 0u) {
        return lines0[at];
    }
    return lines1[at];
}

// Both agents' lines of one state (fee, stake0, stake1) for each control of agent 1:
// V(t+1) of the row (fee, stake0) at the moved stake1, as equilibrium_corners.wgsl blends it.
@compute @workgroup_size(WORKGROUP_SIZE)
fn equilibrium_lines(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let state = state_index(workgroup, workgroups, local);
    if (state >= params.slice_len) {
        return;
    }
    let s1 = state % params.stake_points;
    let row = state - s1;
    for (var c1 = 0u; c1 < CONTROLS; c1++) {
        let e1 = s1 * ACTION_CODES + c1;
        let lo = row + indices[params.stake_lo_at + e1];
        let hi = row + indices[params.stake_hi_at + e1];
        let w = tables[params.stake_weight_at + e1];
        let at = c1 * params.slice_len + state;
        lines0[at] = v_next0[lo] * (1.0 - w) + v_next0[hi] * w;
        lines1[at] = v_next1[lo] * (1.0 - w) + v_next1[hi] * w;
    }
}

// V(t+1) of `agent` at the post-move point of entries (fee entry, stake0 entry, stake1 entry):
// the stake1 line of agent 1's control at the bracket's two stake0 nodes in each of the two
// fee nodes, blended along stake0, then along fee.
fn interpolate(agent: u32, fe: u32, e0: u32, e1: u32) -> real {
    let ns = params.stake_points;
    let s1 = e1 / ACTION_CODES;
    let c1 = e1 % ACTION_CODES;
    let f = vec2<u32>(indices[params.fee_lo_at + fe], indices[params.fee_hi_at + fe]);
    let a = vec2<u32>(indices[params.stake_lo_at + e0], indices[params.stake_hi_at + e0]);
    let wf = tables[params.fee_weight_at + fe];
    let wa = tables[params.stake_weight_at + e0];
    var plane = array<real, 2>();
    for (var i = 0u; i < 2u; i++) {
        let lo = line_value(agent, c1, (f[i] * ns + a.x) * ns + s1);
        let hi = line_value(agent, c1, (f[i] * ns + a.y) * ns + s1);
        plane[i] = lo * (1.0 - wa) + hi * wa;
    }
    return plane[0] * (1.0 - wf) + plane[1] * wf;
}
