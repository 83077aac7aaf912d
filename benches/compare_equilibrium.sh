#!/usr/bin/env bash
# Run mmgame's CPU `equilibrium` solver and the independent NumPy version
# (benches/numpy_equilibrium.py) side by side on the same grid; print both solve times, their
# ratio, and whether the outputs agree.
#
#   benches/compare_equilibrium.sh NF NS NT [RUNS]       e.g.  benches/compare_equilibrium.sh 41 121 9 3
#
# Environment:
#   PYTHON  a Python with NumPy (default: python3), e.g. PYTHON=/tmp/npv/bin/python
#   MMGAME  the mmgame binary (default: target/release/mmgame of this repository)
#
# Times: mmgame's is summary.json's solve_seconds (its solver, tables included, without file
# writing); NumPy's is the script's solve_s (tables + backward sweep, without imports and file
# writing).  Both are the solver's own time, so process start-up is left out of both.
# The runs alternate (mmgame, NumPy, mmgame, ...) so that a change in machine load hits both.
# Medians are reported: on this VM the first solve after a pause is often slower (~1.5x, first
# touch of freshly mapped memory), so use RUNS >= 3 for timings.
# The outputs of the last run are compared.  Exit status: 0 when they agree, 2 when not.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
    echo "usage: $0 NF NS NT [RUNS]" >&2
    exit 1
fi
NF=$1 NS=$2 NT=$3 RUNS=${4:-1}

repo=$(cd "$(dirname "$0")/.." && pwd)
MMGAME=${MMGAME:-$repo/target/release/mmgame}
PYTHON=${PYTHON:-python3}

# wgpu/Mesa warn without a runtime dir even on the CPU backend; give them a private one.
if [[ -z "${XDG_RUNTIME_DIR:-}" ]]; then
    export XDG_RUNTIME_DIR
    XDG_RUNTIME_DIR=$(mktemp -d)
    chmod 700 "$XDG_RUNTIME_DIR"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "grid: fee $NF x stake $NS^2 x time $NT, $RUNS run(s) each, $(nproc) cores"
for ((r = 1; r <= RUNS; r++)); do
    "$MMGAME" -q solve --set solver.scheme=equilibrium \
        --set grid.fee_points="$NF" --set grid.stake_points="$NS" --set grid.time_points="$NT" \
        --backend cpu --no-plots --out "$work/mm" >/dev/null
    # Copy the summary aside: the next run writes into the same folder.
    cp "$work/mm/summary.json" "$work/mm_summary_$r.json"
    "$PYTHON" "$repo/benches/numpy_equilibrium.py" --nf "$NF" --ns "$NS" --nt "$NT" \
        --out "$work/np" >"$work/np_$r.json"
done

# Timings and the agreement check, in one small Python (NumPy is needed to read the .npy files).
"$PYTHON" - "$work" "$RUNS" <<'EOF'
import json, statistics, sys
import numpy as np

work, runs = sys.argv[1], int(sys.argv[2])
mm = [json.load(open(f"{work}/mm_summary_{r}.json")) for r in range(1, runs + 1)]
npr = [json.load(open(f"{work}/np_{r}.json")) for r in range(1, runs + 1)]
t_mm = [s["solve_seconds"] for s in mm]
t_np = [s["solve_s"] for s in npr]
for r in range(runs):
    print(f"run {r + 1}: mmgame {t_mm[r]:.4f} s   numpy {t_np[r]:.4f} s")
med_mm, med_np = statistics.median(t_mm), statistics.median(t_np)
print(f"mmgame ({mm[-1]['device']}, {mm[-1]['precision']}): median {med_mm:.4f} s "
      f"(min {min(t_mm):.4f}, max {max(t_mm):.4f})")
print(f"numpy {npr[-1]['numpy']} (1 core):  median {med_np:.4f} s "
      f"(min {min(t_np):.4f}, max {max(t_np):.4f})")
print(f"ratio numpy/mmgame (medians): {med_np / med_mm:.2f}")

# --- agreement of the last run's outputs ---
v_mm = np.load(f"{work}/mm/values.npy")
v_np = np.load(f"{work}/np/values_t0.npy")
p_mm = np.load(f"{work}/mm/policy.npy")
p_np = np.load(f"{work}/np/policy.npy")
assert v_mm.shape == v_np.shape, (v_mm.shape, v_np.shape)
assert p_mm.shape == p_np.shape, (p_mm.shape, p_np.shape)

diff = np.abs(v_mm - v_np)
# Element-wise relative difference, |a-b| / max(|a|, |b|); 0 where both are 0.
den = np.maximum(np.abs(v_mm), np.abs(v_np))
rel = np.divide(diff, den, out=np.zeros_like(diff), where=den > 0)
print(f"values t=0: max abs diff {diff.max():.3e}, max rel diff {rel.max():.3e} "
      f"(largest |value| {den.max():.4g})")

pol_diff = p_mm != p_np
n_pol = int(pol_diff.sum())
print(f"policy: {n_pol} of {p_mm.size} entries differ (fraction {n_pol / p_mm.size:.3e})")
if n_pol:
    # Where they differ, which steps, and how the values compare where the t=0 actions agree
    # (later selections still feed into those values).
    per_step = pol_diff.any(axis=0).sum(axis=(1, 2, 3))
    print("  states differing per time step:", per_step.tolist())
    same0 = ~pol_diff[:, 0].any(axis=0)
    print(f"  values where both t=0 actions agree: max rel diff {rel[:, same0].max():.3e}")
if p_mm[:, -1].any() or p_np[:, -1].any():
    print("  note: the last time slice of the policy is not all 0")

for key in ("several_equilibria", "no_pure_equilibrium", "max_exploitability"):
    print(f"diagnostics {key}: mmgame {mm[-1][key]}, numpy {npr[-1][key]}")
if "ambiguous_selections" in mm[-1]:
    print(f"mmgame ambiguous_selections (tau decided): {mm[-1]['ambiguous_selections']}")

ok = n_pol == 0 and rel.max() <= 1e-10
print("AGREE" if ok else "DIFFER")
sys.exit(0 if ok else 2)
EOF
