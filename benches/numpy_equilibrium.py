#!/usr/bin/env python3
"""Independent, vectorised NumPy implementation of mmgame's `equilibrium` scheme.

Written from the specification (docs/model.md: the game and the `equilibrium` scheme),
not from mmgame's Rust code, so that it can serve as an independent reference for the CPU
solver and as a speed baseline.  Needs only NumPy (1.26 or 2.x) and Python 3.11.

    python benches/numpy_equilibrium.py --nf 41 --ns 121 --nt 9 [--out DIR]

prints one line of JSON (grid, solve_s, diagnostics) and, with --out, writes
  DIR/values_t0.npy  float64 (2, NF, NS, NS): both agents' V at t = 0
  DIR/policy.npy     int8    (2, NT, NF, NS, NS): the selected controls; last time slice 0

Timing (`solve_s`): everything inside `solve()`, i.e. building the grid-independent tables
(post-move points, interpolation brackets, the time-independent part of the gains) plus the
backward sweep.  Imports, argument parsing and file writing are excluded.  This matches what
mmgame's `solve_seconds` covers (the solver's own time, tables included, without writing files).

Vectorisation: per time step the whole (fee, stake0, stake1) slice is processed at once, with
arrays of shape (2 agents, 9 pairs, NF, NS, NS).  NumPy runs these element-wise operations on
one core.

Options besides the grid: --fee-rule agree|sum, --control m, --max-volume N0 N1 (other model
parameters are the defaults in DEFAULTS).  Interpolation is trilinear only (the spec's
"nearest" option leaves its rounding rule open, so it is not offered here).
"""

import argparse
import json
import os
import sys
import time

import numpy as np


# ----------------------------------------------------------------------------------------------
# Parameters.  Defaults are the notebook's (docs/model.md, the model's parameters).
# ----------------------------------------------------------------------------------------------
DEFAULTS = dict(
    horizon=1.0,          # T
    fee_speed=0.1,        # gamma
    risk_weight=0.1,      # lambda
    discount_rate=0.02,   # r
    volatility=(0.1, 0.1),       # sigma_i
    capital_cost=(0.01, 0.01),   # rho_i
    max_volume=(20000.0, 20000.0),  # N_i
    control=3,            # m: controls (-m, 0, m) in that order
    fee_max=1.0,          # L_f
    stake_max=120.0,      # L_S
    fee_rule="agree",
    fee_offset=0.001,     # phi's offset
    psi_slope=0.05,       # psi's slope
    psi_shift=2.0,        # psi's shift
    tie_tolerance=1e-9,   # tau's relative size in f64
)


def phi(f, offset):
    """Fee response phi(f) = 1/(c + offset) - c with c = clamp(f, 0, 1)."""
    c = np.clip(f, 0.0, 1.0)
    return 1.0 / (c + offset) - c


def psi(s, slope, shift):
    """Stake response psi(S) = 1/(1 + exp(-slope*S + shift)) - 1/(1 + exp(shift))."""
    return 1.0 / (1.0 + np.exp(-slope * s + shift)) - 1.0 / (1.0 + np.exp(shift))


def fee_action(a0, a1, rule):
    """a_f from both agents' controls.

    agree: the fee moves only when both move the same way (a_f = a0 then); sum: a_f = a0 + a1.
    """
    if rule == "agree":
        if a0 > 0 and a1 > 0:
            return a0
        if a0 < 0 and a1 < 0:
            return a0
        return 0
    if rule == "sum":
        return a0 + a1
    raise ValueError(f"unknown fee rule {rule!r}")


def bracket(x, spacing, n):
    """Linear-interpolation bracket on a uniform axis 0..(n-1)*spacing, as docs/model.md prescribes:
    u = x/spacing, lo = clamp(floor(u), 0, n-2), hi = lo + 1, w = clamp(u - lo, 0, 1)."""
    u = x / spacing
    lo = np.clip(np.floor(u), 0, n - 2).astype(np.intp)
    w = np.clip(u - lo, 0.0, 1.0)
    return lo, w


def lerp_axis(v, axis, lo, w, out=None):
    """Interpolate array v along `axis` at the brackets (lo, lo+1) with weights w.

    Trilinear interpolation is separable, so three of these (fee, stake0, stake1) give it.
    (1-w)*a + w*b returns a exactly when w == 0, so on-grid points read the node value.
    Written in place (into `out` when given) because fresh large temporaries cost page faults."""
    shape = [1] * v.ndim
    shape[axis] = -1
    # mode='clip' only to let take write straight into a strided `out` (indices are in range).
    a = np.take(v, lo, axis=axis, out=out, mode="clip")
    b = np.take(v, lo + 1, axis=axis)
    a *= (1.0 - w).reshape(shape)
    b *= w.reshape(shape)
    a += b
    return a


def solve(nf, ns, nt, p):
    """Backward induction with a Nash-equilibrium selection at every state (docs/model.md).

    Returns (values at t = 0 of shape (2, nf, ns, ns), policy (2, nt, nf, ns, ns) int8,
    per-step diagnostics list)."""
    if nf < 2 or ns < 2 or nt < 2:
        raise ValueError("every axis needs at least 2 points")
    m = int(p["control"])
    controls = (-m, 0, m)                       # order matters for the selection tie-break
    T, Lf, Ls = p["horizon"], p["fee_max"], p["stake_max"]
    dt = T / (nt - 1)
    hf, hs = Lf / (nf - 1), Ls / (ns - 1)       # grid spacings (both axes start at 0)
    fee = np.linspace(0.0, Lf, nf)
    stake = np.linspace(0.0, Ls, ns)

    # The 9 action pairs, a0 major, a1 minor (pair index = 3*i0 + i1).
    pairs = [(a0, a1) for a0 in controls for a1 in controls]
    af_of = [fee_action(a0, a1, p["fee_rule"]) for a0, a1 in pairs]

    # Post-move coordinates per axis.  The transition is separable: the fee moves with a_f,
    # stake i with a_i, each clamped to its axis.  Computed once per distinct shift.
    fee_post = {af: np.clip(fee - p["fee_speed"] * af * dt, 0.0, Lf) for af in set(af_of)}
    stake_post = {a: np.clip(stake + a * dt, 0.0, Ls) for a in controls}
    fee_br = {af: bracket(x, hf, nf) for af, x in fee_post.items()}
    stake_br = {a: bracket(x, hs, ns) for a, x in stake_post.items()}

    # Time-independent parts of the gains at every pair's post-move point:
    #   g_i = e^{-r t} * (f' Vol_i - lambda sigma_i S_i') - e^{rho_i t} S_i'
    #   f' Vol_i = N_i * (f' phi(f')) * (S_i'/S' psi(S'))  (0 when S' = 0)
    # income[i, p] has shape (nf, ns, ns); stake_i[i, p] (1, ns, ns) broadcasts over the fee.
    income = np.empty((2, 9, nf, ns, ns))
    stake_i = np.empty((2, 9, 1, ns, ns))
    for k, (a0, a1) in enumerate(pairs):
        f1 = fee_post[af_of[k]]
        s0 = stake_post[a0][:, None]
        s1 = stake_post[a1][None, :]
        s = s0 + s1
        pos = s > 0
        safe = np.where(pos, s, 1.0)            # avoid 0/0; masked out below
        ps = psi(s, p["psi_slope"], p["psi_shift"])
        fphi = (f1 * phi(f1, p["fee_offset"]))[:, None, None]
        for i, si in enumerate((s0, s1)):
            share = np.where(pos, si / safe * ps, 0.0)   # (S_i/S) psi(S)
            income[i, k] = p["max_volume"][i] * fphi * share[None, :, :]
            stake_i[i, k, 0] = np.broadcast_to(si, (ns, ns))
    lam_sig = np.array([p["risk_weight"] * p["volatility"][i] for i in range(2)])
    rho = np.array(p["capital_cost"], dtype=float)

    # Per-pair interpolation plan.  The fee interpolation depends only on a_f and the stake0
    # step only on (a_f, a0); sharing them cuts 27 one-axis interpolations to 17 (agree rule).
    fee_keys = sorted(set(af_of))
    fs_keys = sorted(set((af_of[k], pairs[k][0]) for k in range(9)))

    tol = p["tie_tolerance"]
    V = np.zeros((2, nf, ns, ns))               # V(T) = 0; only one slice kept (plus the new one)
    policy = np.zeros((2, nt, nf, ns, ns), dtype=np.int8)   # last slice stays 0 (no action at T)
    ctrl_arr = np.array(controls, dtype=np.int8)
    diagnostics = []

    # Work buffers, allocated once: fresh ~100 MB temporaries every step would cost as much in
    # page faults as the arithmetic itself.
    U = np.empty((2, 9, nf, ns, ns))            # payoffs, agent-major, pairs a0-major
    tmp = np.empty_like(U)
    e = np.empty((9, nf, ns, ns))               # exploitability of every pair
    d1 = np.empty((9, nf, ns, ns))
    joint = np.empty((9, nf, ns, ns))
    cand = np.empty((9, nf, ns, ns), dtype=bool)
    final = np.empty((9, nf, ns, ns), dtype=bool)
    U4 = U.reshape(2, 3, 3, nf, ns, ns)         # views: [agent, a0, a1, ...]
    e4 = e.reshape(3, 3, nf, ns, ns)
    d14 = d1.reshape(3, 3, nf, ns, ns)

    for k in range(nt - 2, -1, -1):
        t = k * dt
        # V(t_{k+1}) at each pair's post-move point, by separable trilinear interpolation,
        # both agents at once (axis 0 of V is the agent); the last axis lands straight in U.
        vf = {af: lerp_axis(V, 1, *fee_br[af]) for af in fee_keys}
        vfs = {(af, a0): lerp_axis(vf[af], 2, *stake_br[a0]) for af, a0 in fs_keys}
        for j, (a0, a1) in enumerate(pairs):
            lerp_axis(vfs[(af_of[j], a0)], 3, *stake_br[a1], out=U[:, j])

        # U_i = g_i(t_k, x') dt + V_i(t_{k+1}, x'), with
        # g_i dt = (e^{-r t} dt) income_i - (e^{-r t} lambda sigma_i + e^{rho_i t}) dt S_i'.
        disc = np.exp(-p["discount_rate"] * t)
        cost = (disc * lam_sig + np.exp(rho * t)) * dt                   # per agent
        np.multiply(income, disc * dt, out=tmp)
        tmp -= cost[:, None, None, None, None] * stake_i                 # small, broadcast
        U += tmp

        # Exploitability e = max(D_0, D_1): agent 0 deviates along a0 (axis 0 of U4[0]),
        # agent 1 along a1 (axis 1 of U4[1]).  The best reply itself gets exactly 0.
        np.subtract(U4[0].max(axis=0, keepdims=True), U4[0], out=e4)
        np.subtract(U4[1].max(axis=1, keepdims=True), U4[1], out=d14)
        np.maximum(e, d1, out=e)

        # Tie tolerance tau = tol * max(1, largest |U| over the state's 9 pairs and both agents).
        umax = np.maximum(U.max(axis=(0, 1)), -U.min(axis=(0, 1)))
        tau = tol * np.maximum(1.0, umax)
        # Candidates: e <= e_min + tau.  Finalists: joint payoff within tau of the best
        # candidate's.  Selected: the first finalist in pair order (a0 major, a1 minor).
        np.less_equal(e, e.min(axis=0) + tau, out=cand)
        np.add(U[0], U[1], out=joint)
        jbest = joint.max(axis=0, where=cand, initial=-np.inf)
        np.greater_equal(joint, jbest - tau, out=final)
        final &= cand
        sel = final.argmax(axis=0)              # argmax of a bool array: the first True

        V = np.take_along_axis(U, sel[None, None], axis=1)[:, 0]   # new slice (a copy)
        policy[0, k] = ctrl_arr[sel // 3]
        policy[1, k] = ctrl_arr[sel % 3]

        # Diagnostics as docs/model.md defines them (pure equilibria: e <= tau).
        np.less_equal(e, tau, out=cand)
        n_eq = cand.sum(axis=0, dtype=np.int16)
        e_sel = np.take_along_axis(e, sel[None], axis=0)[0]
        e_sel = np.where(e_sel <= tau, 0.0, e_sel)
        diagnostics.append(dict(step=k, time=t,
                                no_pure_equilibrium=int((n_eq == 0).sum()),
                                several_equilibria=int((n_eq > 1).sum()),
                                max_exploitability=float(e_sel.max())))
    diagnostics.reverse()
    return V, policy, diagnostics


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nf", type=int, default=15, help="fee points (default 15)")
    ap.add_argument("--ns", type=int, default=15, help="stake points per agent (default 15)")
    ap.add_argument("--nt", type=int, default=5, help="time points (default 5)")
    ap.add_argument("--fee-rule", choices=("agree", "sum"), default="agree")
    ap.add_argument("--control", type=int, default=DEFAULTS["control"], help="m (default 3)")
    ap.add_argument("--max-volume", type=float, nargs=2, default=DEFAULTS["max_volume"],
                    metavar=("N0", "N1"), help="N_max of both agents (default 20000 20000)")
    ap.add_argument("--out", help="write values_t0.npy and policy.npy into this folder")
    args = ap.parse_args(argv)

    p = dict(DEFAULTS, fee_rule=args.fee_rule, control=args.control,
             max_volume=tuple(args.max_volume))
    t0 = time.perf_counter()
    V, policy, diag = solve(args.nf, args.ns, args.nt, p)
    solve_s = time.perf_counter() - t0

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        np.save(os.path.join(args.out, "values_t0.npy"), V)
        np.save(os.path.join(args.out, "policy.npy"), policy)

    cells = args.nf * args.ns ** 2 * (args.nt - 1)
    print(json.dumps(dict(
        impl="numpy", numpy=np.__version__, python=sys.version.split()[0],
        grid=[args.nf, args.ns, args.nt],
        solve_s=solve_s,
        solve_s_covers="tables + backward sweep (no imports, argument parsing or file writing)",
        cell_updates=cells, cell_updates_per_second=cells / solve_s,
        no_pure_equilibrium=sum(d["no_pure_equilibrium"] for d in diag),
        several_equilibria=sum(d["several_equilibria"] for d in diag),
        max_exploitability=max(d["max_exploitability"] for d in diag),
        diagnostics=diag)))


if __name__ == "__main__":
    main()
