// Shared by equilibrium_step (no entry point): the stage game at one state. V(t+1) at a
// post-move point comes from `interpolate`, which the kernel takes from
// equilibrium_corners.wgsl (eight corners of V(t+1)) or equilibrium_stencil.wgsl (four
// values of the stake1 lines).
// CPU twins: payoffs, exploitability and select in src/cpu/equilibrium.rs.

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
