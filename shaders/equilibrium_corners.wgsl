// Shared by the per-state equilibrium_step (no entry point): V(t+1) at a post-move point from
// its eight corners. It reads the bindings `v_next0`, `v_next1` that the kernel declares.
// CPU twin: trilinear interpolation (`Corners::trilinear` in src/grid.rs).

fn next_value(agent: u32, at: u32) -> real {
    if (agent == 0u) {
        return v_next0[at];
    }
    return v_next1[at];
}

// V(t+1) of `agent` at the post-move point of entries (fee entry, stake0 entry, stake1 entry):
// trilinear interpolation between the bracket's nodes (the nearest node when the brackets say
// so: weight 0, lo = hi), in the CPU's order of operations.
fn interpolate(agent: u32, fe: u32, e0: u32, e1: u32) -> real {
    let ns = params.stake_points;
    let f = vec2<u32>(indices[params.fee_lo_at + fe], indices[params.fee_hi_at + fe]);
    let a = vec2<u32>(indices[params.stake_lo_at + e0], indices[params.stake_hi_at + e0]);
    let b = vec2<u32>(indices[params.stake_lo_at + e1], indices[params.stake_hi_at + e1]);
    let wf = tables[params.fee_weight_at + fe];
    let wa = tables[params.stake_weight_at + e0];
    let wb = tables[params.stake_weight_at + e1];
    var plane = array<real, 2>();
    for (var i = 0u; i < 2u; i++) {
        var line = array<real, 2>();
        for (var j = 0u; j < 2u; j++) {
            let row = (f[i] * ns + a[j]) * ns;
            line[j] = next_value(agent, row + b.x) * (1.0 - wb) + next_value(agent, row + b.y) * wb;
        }
        plane[i] = line[0] * (1.0 - wa) + line[1] * wa;
    }
    return plane[0] * (1.0 - wf) + plane[1] * wf;
}

