// equilibrium_step: one time step of the equilibrium scheme at every state. For each of the
// nine action pairs, both agents' payoffs U_i = g_i(t, x') dt + V_i(t+1, x') at the clamped
// physical post-move point x' (V interpolated from the bracket tables); then each pair's
// exploitability, the selection of MODEL.md with tie tolerance tau, and both agents' values
// and actions. Each workgroup reduces the step's diagnostics into `diagnostics`.
// CPU twin: equilibrium_cell in src/cpu/equilibrium.rs.

// Mirrors `Sweep` in src/gpu/layout.rs: where the equilibrium tables sit in `indices`/`posts`.
struct Sweep {
    fee_lo_at: u32,
    fee_hi_at: u32,
    stake_lo_at: u32,
    stake_hi_at: u32,
    fee_weight_at: u32,
    stake_weight_at: u32,
    stake_post_at: u32,
    // tau = tie_tolerance * max(1, largest |U| at the state).
    tie_tolerance: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<uniform> sweep: Sweep;
@group(0) @binding(3) var<storage, read> indices: array<u32>;
@group(0) @binding(4) var<storage, read> posts: array<f32>;
@group(0) @binding(5) var<storage, read> v_next0: array<f32>;
@group(0) @binding(6) var<storage, read> v_next1: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_cur0: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_cur1: array<f32>;
// Both agents' action codes of a state, agent 0's in the low byte.
@group(0) @binding(9) var<storage, read_write> actions: array<u32>;
// Per workgroup: states without a pure equilibrium, with several, the largest selected
// exploitability (f32 bits; it is >= 0, so the bits order as the numbers do).
@group(0) @binding(10) var<storage, read_write> diagnostics: array<u32>;

var<workgroup> no_pure: array<u32, WORKGROUP_SIZE>;
var<workgroup> several: array<u32, WORKGROUP_SIZE>;
var<workgroup> worst: array<u32, WORKGROUP_SIZE>;

fn next_value(agent: u32, at: u32) -> f32 {
    if (agent == 0u) {
        return v_next0[at];
    }
    return v_next1[at];
}

// V(t+1) of `agent` at the post-move point of entries (fee entry, stake0 entry, stake1 entry).
fn interpolate(agent: u32, fe: u32, e0: u32, e1: u32) -> f32 {
    let ns = params.stake_points;
    let f = vec2<u32>(indices[sweep.fee_lo_at + fe], indices[sweep.fee_hi_at + fe]);
    let a = vec2<u32>(indices[sweep.stake_lo_at + e0], indices[sweep.stake_hi_at + e0]);
    let b = vec2<u32>(indices[sweep.stake_lo_at + e1], indices[sweep.stake_hi_at + e1]);
    let wf = posts[sweep.fee_weight_at + fe];
    let wa = posts[sweep.stake_weight_at + e0];
    let wb = posts[sweep.stake_weight_at + e1];
    var plane = array<f32, 2>();
    for (var i = 0u; i < 2u; i++) {
        var line = array<f32, 2>();
        for (var j = 0u; j < 2u; j++) {
            let row = (f[i] * ns + a[j]) * ns;
            line[j] = next_value(agent, row + b.x) * (1.0 - wb) + next_value(agent, row + b.y) * wb;
        }
        plane[i] = line[0] * (1.0 - wa) + line[1] * wa;
    }
    return plane[0] * (1.0 - wf) + plane[1] * wf;
}

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
    if (state < params.slice_len) {
        let ns = params.stake_points;
        let fee = state / (ns * ns);
        let s0 = (state / ns) % ns;
        let s1 = state % ns;
        var u0 = array<f32, 9>();
        var u1 = array<f32, 9>();
        var largest = 1.0;
        for (var n = 0u; n < 9u; n++) {
            let c0 = n / 3u;
            let c1 = n % 3u;
            let fe = fee * PAIR_CODES + pair_index(c0, c1);
            let e0 = s0 * ACTION_CODES + c0;
            let e1 = s1 * ACTION_CODES + c1;
            let post_fee = posts[fe];
            let post0 = posts[sweep.stake_post_at + e0];
            let post1 = posts[sweep.stake_post_at + e1];
            u0[n] = running_gain(0u, step, post_fee, post0, post1) * params.dt + interpolate(0u, fe, e0, e1);
            u1[n] = running_gain(1u, step, post_fee, post0, post1) * params.dt + interpolate(1u, fe, e0, e1);
            largest = max(largest, max(abs(u0[n]), abs(u1[n])));
        }
        let tau = sweep.tie_tolerance * largest;
        var e = array<f32, 9>();
        var e_min = 3.0e38;
        var equilibria = 0u;
        for (var n = 0u; n < 9u; n++) {
            let a0 = n / 3u;
            let a1 = n % 3u;
            let best0 = max(max(u0[a1], u0[3u + a1]), u0[6u + a1]);
            let best1 = max(max(u1[a0 * 3u], u1[a0 * 3u + 1u]), u1[a0 * 3u + 2u]);
            e[n] = max(best0 - u0[n], best1 - u1[n]);
            e_min = min(e_min, e[n]);
            equilibria += select(0u, 1u, e[n] <= tau);
        }
        var best_sum = -3.0e38;
        for (var n = 0u; n < 9u; n++) {
            if (e[n] <= e_min + tau) {
                best_sum = max(best_sum, u0[n] + u1[n]);
            }
        }
        // The first finalist in order (a0 major, a1 minor).
        var chosen = 9u;
        for (var n = 0u; n < 9u; n++) {
            if (chosen == 9u && e[n] <= e_min + tau && u0[n] + u1[n] >= best_sum - tau) {
                chosen = n;
            }
        }
        v_cur0[state] = u0[chosen];
        v_cur1[state] = u1[chosen];
        actions[state] = (chosen / 3u) | ((chosen % 3u) << 8u);
        found_none = select(0u, 1u, equilibria == 0u);
        found_several = select(0u, 1u, equilibria > 1u);
        selected_e = select(e[chosen], 0.0, e[chosen] <= tau);
    }
    no_pure[local] = found_none;
    several[local] = found_several;
    worst[local] = bitcast<u32>(selected_e);
    workgroupBarrier();
    for (var width = WORKGROUP_SIZE / 2u; width > 0u; width /= 2u) {
        if (local < width) {
            no_pure[local] += no_pure[local + width];
            several[local] += several[local + width];
            worst[local] = max(worst[local], worst[local + width]);
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        let group = workgroup.y * workgroups.x + workgroup.x;
        diagnostics[group * 3u] = no_pure[0];
        diagnostics[group * 3u + 1u] = several[0];
        diagnostics[group * 3u + 2u] = worst[0];
    }
}
