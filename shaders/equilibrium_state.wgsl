// Shared by equilibrium_step (no entry point): the stage game at one state. It reads the
// bindings `v_next0`, `v_next1` that the kernel declares.
// CPU twins: payoffs, exploitability and select in src/cpu/equilibrium.rs, and trilinear
// interpolation (`interpolate`).

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

// One state's outcome: the selected pair (a0 major), both values, the number of pure
// equilibria and the selected pair's exploitability (0 when within tau).
struct Cell {
    chosen: u32,
    equilibria: u32,
    // 1 when the tolerance decided the selection (exact comparisons pick another pair).
    ambiguous: u32,
    values: array<real, 2>,
    exploitability: real,
}

// The stage game at state (fee, s0, s1): U_i for the nine pairs, each pair's exploitability,
// and the selection of docs/model.md with tau = TIE_TOLERANCE · max(1, largest |U|): least
// exploitability within tau, then the largest joint payoff within tau, then the first in order.
fn equilibrium_state(fee: u32, s0: u32, s1: u32) -> Cell {
    var u0 = array<real, PAIRS>();
    var u1 = array<real, PAIRS>();
    var largest = real(1.0);
    for (var n = 0u; n < PAIRS; n++) {
        let c0 = n / CONTROLS;
        let c1 = n % CONTROLS;
        let fe = fee * PAIR_CODES + pair_index(c0, c1);
        let e0 = s0 * ACTION_CODES + c0;
        let e1 = s1 * ACTION_CODES + c1;
        u0[n] = gain_dt(0u, fee, s0, s1, c0, c1) + interpolate(0u, fe, e0, e1);
        u1[n] = gain_dt(1u, fee, s0, s1, c0, c1) + interpolate(1u, fe, e0, e1);
        largest = max(largest, max(abs(u0[n]), abs(u1[n])));
    }
    let tau = TIE_TOLERANCE * largest;
    var e = array<real, PAIRS>();
    var equilibria = 0u;
    for (var n = 0u; n < PAIRS; n++) {
        let a0 = n / CONTROLS;
        let a1 = n % CONTROLS;
        let best0 = max(max(u0[a1], u0[CONTROLS + a1]), u0[2u * CONTROLS + a1]);
        let best1 = max(max(u1[a0 * CONTROLS], u1[a0 * CONTROLS + 1u]), u1[a0 * CONTROLS + 2u]);
        e[n] = max(best0 - u0[n], best1 - u1[n]);
        equilibria += select(0u, 1u, e[n] <= tau);
    }
    // Seeded from the first pair rather than a sentinel: payoffs in f64 may pass any f32 bound.
    var e_min = e[0];
    for (var n = 1u; n < PAIRS; n++) {
        e_min = min(e_min, e[n]);
    }
    var best_sum = real(0.0);
    var have_sum = false;
    for (var n = 0u; n < PAIRS; n++) {
        if (e[n] <= e_min + tau && (!have_sum || u0[n] + u1[n] > best_sum)) {
            best_sum = u0[n] + u1[n];
            have_sum = true;
        }
    }
    // The first finalist in order; none only when payoffs are not finite, and then the first
    // pair, as the CPU does (the solve's check reports the overflow).
    var chosen = PAIRS;
    for (var n = 0u; n < PAIRS; n++) {
        if (chosen == PAIRS && e[n] <= e_min + tau && u0[n] + u1[n] >= best_sum - tau) {
            chosen = n;
        }
    }
    chosen = select(chosen, 0u, chosen == PAIRS);
    // The same rule with exact comparisons: equal payoffs give the same pair, so only near
    // ties count as ambiguous.
    var exact_sum = real(0.0);
    var have_exact = false;
    for (var n = 0u; n < PAIRS; n++) {
        if (e[n] <= e_min && (!have_exact || u0[n] + u1[n] > exact_sum)) {
            exact_sum = u0[n] + u1[n];
            have_exact = true;
        }
    }
    var exact = PAIRS;
    for (var n = 0u; n < PAIRS; n++) {
        if (exact == PAIRS && e[n] <= e_min && u0[n] + u1[n] >= exact_sum) {
            exact = n;
        }
    }
    var cell: Cell;
    // Counted only when the picks differ by more than f64 rounding (ROUNDING_GAP), as the CPU
    // counts them.
    var gap = real(0.0);
    if (exact != PAIRS) {
        gap = max(abs(e[exact] - e[chosen]), abs(u0[exact] + u1[exact] - u0[chosen] - u1[chosen]));
    }
    cell.ambiguous = select(0u, 1u, exact != PAIRS && exact != chosen && gap > ROUNDING_GAP * largest);
    cell.chosen = chosen;
    cell.equilibria = equilibria;
    cell.values = array<real, 2>(u0[chosen], u1[chosen]);
    cell.exploitability = select(e[chosen], 0.0, e[chosen] <= tau);
    return cell;
}
