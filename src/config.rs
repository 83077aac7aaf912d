//! Scenarios: the embedded default, scenario files and `--set` overrides, validated into a
//! [`Scenario`] whose every error names the key at fault and what is allowed.

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::error::Error;
use crate::grid::{Grid, Interpolation};
use crate::model::{Agent, Game, Model};

/// The notebook's scenario, embedded in the binary; `mmgame scenario` prints it.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/default.toml");

/// The grid (the scenario's `[grid]` table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// N_T.
    pub time_points: i64,
    /// N_f.
    pub fee_points: i64,
    /// L_f.
    pub fee_max: f64,
    /// N_S.
    pub stake_points: i64,
    /// L_S.
    pub stake_max: f64,
    /// m.
    pub control: i64,
}

impl GridConfig {
    /// States in one time slice, fee_points · stake_points² (saturating: a huge grid simply
    /// does not fit).
    pub fn slice_states(&self) -> u64 {
        crate::resources::bytes(&[
            self.fee_points as u64,
            self.stake_points as u64,
            self.stake_points as u64,
        ])
    }

    /// Entries of (agent, time, fee, stake0, stake1) arrays: 2 · time_points · slice.
    pub fn all_states(&self) -> u64 {
        crate::resources::bytes(&[2, self.time_points as u64, self.slice_states()])
    }

    /// Bytes of the CPU's gain tables (`cpu::gain::GainTables`): two agents' stake factors,
    /// 16 action pairs per pair of stake nodes, f64.
    pub fn gain_table_bytes(&self) -> u64 {
        crate::resources::bytes(&[2, 16, 8, self.stake_points as u64, self.stake_points as u64])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// The notebook's policy iteration with best responses, reproduced exactly.
    Notebook,
    /// Backward induction with a Nash equilibrium of the stage game at every state (docs/model.md).
    Equilibrium,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Notebook => "notebook",
            Scheme::Equilibrium => "equilibrium",
        }
    }
}

/// The solver (the scenario's `[solver]` table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverConfig {
    pub scheme: Scheme,
    /// `max_iter`: policy iterations at most.
    pub max_iterations: i64,
    /// Stop when the policy change falls below this.
    pub tolerance: f64,
    /// How the `equilibrium` scheme reads the next slice between nodes.
    pub interpolation: Interpolation,
}

/// The simulated path's start (the scenario's `[path]` table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    pub stakes: [f64; 2],
    pub fee: f64,
}

/// A number for a message: as written for ordinary magnitudes, in exponent form for very large
/// or very small ones (`1.7e308`, not 309 digits).
pub fn number(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-5..1e16).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// The largest |payoff| a scenario may reach in f64: beyond it sums of a few payoffs could
/// overflow.
pub const F64_PAYOFF_LIMIT: f64 = 1e300;

/// The largest |payoff| a scenario may reach in f32 (the GPU): f32 holds up to 3.4e38.
pub const F32_PAYOFF_LIMIT: f64 = 1e36;

/// A validated scenario. Build it with [`Scenario::load`] or [`Scenario::from_toml`]; the
/// integer fields are then known to be in range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub model: Model,
    pub agents: Vec<Agent>,
    pub grid: GridConfig,
    pub solver: SolverConfig,
    pub path: PathConfig,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::from_toml(DEFAULT_SCENARIO, "the embedded default", &[])
            .expect("the embedded default scenario is valid")
    }
}

impl Scenario {
    /// Reads a scenario file (or the embedded default when `path` is `None`) and applies the
    /// `--set KEY=VALUE` overrides.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Self, Error> {
        match path {
            None => Scenario::from_toml(DEFAULT_SCENARIO, "the embedded default", overrides),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    Error::Input(format!("cannot read scenario file {}: {e}", p.display()))
                })?;
                Scenario::from_toml(&text, &p.display().to_string(), overrides)
            }
        }
    }

    /// Parses scenario text, fills the keys it leaves out from the default, applies the
    /// overrides and validates. `origin` names the text in error messages.
    pub fn from_toml(text: &str, origin: &str, overrides: &[String]) -> Result<Self, Error> {
        let user = parse_table(text, origin)?;
        let mut doc = parse_table(DEFAULT_SCENARIO, "the embedded default")?;
        merge(&mut doc, user);
        for o in overrides {
            apply_override(&mut doc, o)?;
        }
        let scenario: Scenario =
            serde_path_to_error::deserialize(Value::Table(doc)).map_err(|e| {
                let key = key_path(e.path());
                // Name the --set that gave the bad value, else the file.
                let source = overrides
                    .iter()
                    .rev()
                    .find(|o| {
                        o.split('=')
                            .next()
                            .is_some_and(|k| key.starts_with(k.trim()))
                    })
                    .map(|o| format!("--set {o}"))
                    .unwrap_or_else(|| origin.to_string());
                Error::Input(format!(
                    "{source}: {key}: {}",
                    one_line(e.inner().message())
                ))
            })?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn game(&self) -> Game {
        Game {
            model: self.model,
            agents: [self.agents[0], self.agents[1]],
        }
    }

    pub fn grid(&self) -> Grid {
        let g = &self.grid;
        Grid::new(
            self.model.horizon,
            g.time_points as usize,
            g.fee_max,
            g.fee_points as usize,
            g.stake_max,
            g.stake_points as usize,
            g.control as u32,
        )
    }

    /// The scenario as TOML (what `summary.json` and sweeps record).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario serialises to TOML")
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |key: &str, value: String, allowed: &str| {
            Err(Error::Input(format!("{key} = {value}: {allowed}")))
        };
        let m = &self.model;
        let finite = [
            ("model.horizon", m.horizon),
            ("model.fee_speed", m.fee_speed),
            ("model.risk_weight", m.risk_weight),
            ("model.discount_rate", m.discount_rate),
            ("grid.fee_max", self.grid.fee_max),
            ("grid.stake_max", self.grid.stake_max),
            ("solver.tolerance", self.solver.tolerance),
            ("path.stakes.0", self.path.stakes[0]),
            ("path.stakes.1", self.path.stakes[1]),
            ("path.fee", self.path.fee),
        ];
        let crate::model::FeeResponse::Reciprocal { offset } = m.fee_response;
        let crate::model::StakeResponse::Logistic { slope, shift } = m.stake_response;
        let responses = [
            ("model.fee_response.offset", offset),
            ("model.stake_response.slope", slope),
            ("model.stake_response.shift", shift),
        ];
        for (key, v) in finite.iter().chain(&responses) {
            if !v.is_finite() {
                return bad(key, number(*v), "must be a finite number");
            }
        }
        if offset <= 0.0 {
            return bad(
                "model.fee_response.offset",
                offset.to_string(),
                "must be > 0 (φ divides by fee + offset)",
            );
        }
        if self.agents.len() != 2 {
            return Err(Error::Input(format!(
                "agents: the game has exactly two agents ([[agents]] twice), found {}",
                self.agents.len()
            )));
        }
        for (i, a) in self.agents.iter().enumerate() {
            for (name, v) in [
                ("volatility", a.volatility),
                ("capital_cost", a.capital_cost),
                ("max_volume", a.max_volume),
            ] {
                let key = format!("agents.{i}.{name}");
                if !v.is_finite() {
                    return bad(&key, number(v), "must be a finite number");
                }
                if name != "capital_cost" && v < 0.0 {
                    return bad(&key, number(v), "must be ≥ 0");
                }
            }
        }
        self.validate_grid_and_solver()?;
        self.validate_path()?;
        let (bound, cause) = self.payoff_bound();
        // NaN (an overflow inside the bound) fails too.
        if bound.is_nan() || bound > F64_PAYOFF_LIMIT {
            return Err(Error::Input(format!(
                "{cause}: payoffs could reach {bound:.1e}, beyond what f64 holds safely (|payoff| ≤ {F64_PAYOFF_LIMIT:e}); lower them"
            )));
        }
        Ok(())
    }

    /// The path must start on the grid: the solution says nothing about states beyond it.
    fn validate_path(&self) -> Result<(), Error> {
        let g = &self.grid;
        let p = &self.path;
        let checks = [
            ("path.fee", p.fee, "fee", g.fee_max),
            ("path.stakes.0", p.stakes[0], "stake", g.stake_max),
            ("path.stakes.1", p.stakes[1], "stake", g.stake_max),
        ];
        for (key, v, axis, max) in checks {
            if !(0.0..=max).contains(&v) {
                return Err(Error::Input(format!(
                    "{key} = {}: the path must start on the {axis} grid, [0, {}]",
                    number(v),
                    number(max)
                )));
            }
        }
        Ok(())
    }

    /// An upper bound on |payoff| over the whole game, and the parameters that drive it. The
    /// running gain is e^(−r·t)·(f·V_i − λσ_i·S_i) − e^(ρ_i·t)·S_i, taken at points up to one
    /// move past the grid: with f_reach = fee_max + 2·max(m, 1)·|γ|·dt and s_reach = stake_max
    /// \+ max(m, 1)·dt, f·V_i ≤ N_i·f_reach·(1/offset + 1) and S_i ≤ s_reach; a value sums at
    /// most `horizon` of it (times dt). So |payoff| ≤ horizon·max_i(e^(max(0, −r)·T)·(N_i·
    /// f_reach·(1/offset + 1) + |λ|σ_i·s_reach) + e^(max(0, ρ_i)·T)·s_reach). Loose, but finite
    /// exactly when nothing overflows, and far below the limits on every sensible scenario
    /// (about 5e7 on the default).
    pub fn payoff_bound(&self) -> (f64, String) {
        let m = &self.model;
        let t = m.horizon;
        let crate::model::FeeResponse::Reciprocal { offset } = m.fee_response;
        let discount = (-m.discount_rate).max(0.0) * t;
        // The notebook scheme moves physically and unclamped: a point can leave the grid by one
        // move, the fee by up to 2·max(m, 1)·γ·dt (the sum rule), a stake by max(m, 1)·dt (the
        // initial action 1 is a move too).
        let dt = t / (self.grid.time_points as f64 - 1.0);
        let step = (self.grid.control as f64).max(1.0) * dt;
        let fee_reach = self.grid.fee_max + 2.0 * (m.fee_speed * step).abs();
        let s_max = self.grid.stake_max + step;
        let mut worst = (0.0f64, String::new());
        for (i, a) in self.agents.iter().enumerate() {
            let holding = a.capital_cost.max(0.0) * t;
            let cause = self.bound_cause(i, discount, holding, fee_reach);
            let trading = a.max_volume * fee_reach * (1.0 / offset + 1.0);
            let risk = (m.risk_weight * a.volatility).abs() * s_max;
            let bound = t * (discount.exp() * (trading + risk) + holding.exp() * s_max);
            if bound.is_nan() || bound > worst.0 || worst.1.is_empty() {
                worst = (bound, cause);
            }
        }
        worst
    }

    /// The parameters to name for agent `i`'s payoff bound: an exponential beyond e^20 (5e8,
    /// more than any other factor of a sensible scenario), a fee that one move takes a
    /// million times past the grid, else the linear factors.
    fn bound_cause(&self, i: usize, discount: f64, holding: f64, fee_reach: f64) -> String {
        let (m, t) = (&self.model, self.model.horizon);
        if discount >= holding && discount > 20.0 {
            format!(
                "model.discount_rate = {} with model.horizon = {}",
                number(m.discount_rate),
                number(t)
            )
        } else if holding > 20.0 {
            format!(
                "agents.{i}.capital_cost = {} with model.horizon = {}",
                number(self.agents[i].capital_cost),
                number(t)
            )
        } else if fee_reach > 1e6 * self.grid.fee_max.max(1.0) {
            format!(
                "model.fee_speed = {} with grid.control = {}",
                number(m.fee_speed),
                self.grid.control
            )
        } else {
            format!(
                "model.horizon = {} with agents.{i}.max_volume = {} and grid.stake_max = {}",
                number(t),
                number(self.agents[i].max_volume),
                number(self.grid.stake_max)
            )
        }
    }

    /// The checks of [`Scenario::validate`] on the grid and the solver, after the numbers.
    fn validate_grid_and_solver(&self) -> Result<(), Error> {
        let bad = |key: &str, value: String, allowed: &str| {
            Err(Error::Input(format!("{key} = {value}: {allowed}")))
        };
        for (key, v) in [
            ("model.horizon", self.model.horizon),
            ("grid.fee_max", self.grid.fee_max),
            ("grid.stake_max", self.grid.stake_max),
        ] {
            if v <= 0.0 {
                return bad(key, number(v), "must be > 0");
            }
        }
        let g = &self.grid;
        for (key, v) in [
            ("grid.time_points", g.time_points),
            ("grid.fee_points", g.fee_points),
            ("grid.stake_points", g.stake_points),
        ] {
            if v < 2 {
                return bad(key, v.to_string(), "an axis needs at least 2 points");
            }
            if v > u32::MAX as i64 {
                return bad(key, v.to_string(), "must be below 2^32");
            }
        }
        if g.control < 0 || g.control > crate::grid::MAX_CONTROL {
            return bad(
                "grid.control",
                g.control.to_string(),
                "must be an integer from 0 to 127 (controls are -m, 0, m; policy.npy stores them as int8)",
            );
        }
        if self.solver.max_iterations < 1 {
            return bad(
                "solver.max_iterations",
                self.solver.max_iterations.to_string(),
                "must be at least 1",
            );
        }
        if self.solver.tolerance < 0.0 {
            return bad(
                "solver.tolerance",
                self.solver.tolerance.to_string(),
                "must be ≥ 0",
            );
        }
        Ok(())
    }
}

fn parse_table(text: &str, origin: &str) -> Result<Table, Error> {
    text.parse::<Table>().map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(" line {}", text[..s.start].lines().count().max(1)))
            .unwrap_or_default();
        Error::Input(format!(
            "{origin}{line}: malformed TOML: {}",
            one_line(e.message())
        ))
    })
}

/// A parser message on one line, with Rust type names said as the scenario's.
fn one_line(message: &str) -> String {
    let words: Vec<&str> = message.split_whitespace().collect();
    words
        .join(" ")
        .replace("i64", "an integer")
        .replace("f64", "a number")
        .replace("struct Agent", "a table of agent keys")
}

/// Overlays `user` on `base`: tables merge key by key, arrays of tables element by element
/// (so an `[[agents]]` entry may give only some keys), anything else is replaced.
fn merge(base: &mut Table, user: Table) {
    for (key, value) in user {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(u)) => merge(b, u),
            (Some(Value::Array(b)), Value::Array(u))
                if !b.is_empty() && b.iter().chain(&u).all(Value::is_table) =>
            {
                let template = b[0].clone();
                let mut out = Vec::with_capacity(u.len());
                for (i, item) in u.into_iter().enumerate() {
                    let mut t = b.get(i).unwrap_or(&template).clone();
                    if let (Value::Table(t), Value::Table(item)) = (&mut t, item) {
                        merge(t, item);
                    }
                    out.push(t);
                }
                *b = out;
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies one `--set KEY=VALUE`. The value is read as a TOML value; a bare word that is not
/// one (`--set model.fee_rule=sum`) is taken as a string. Array entries are addressed by
/// 0-based index (`agents.1.volatility`).
fn apply_override(doc: &mut Table, assignment: &str) -> Result<(), Error> {
    let (key, raw) = assignment.split_once('=').ok_or_else(|| {
        Error::Input(format!(
            "--set {assignment}: expected KEY=VALUE, e.g. --set grid.fee_points=31"
        ))
    })?;
    let key = key.trim();
    let raw = raw.trim();
    let value = match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t.remove("v").expect("the key just parsed"),
        Err(_) => Value::String(raw.to_string()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Input(format!(
            "--set {assignment}: malformed key `{key}`"
        )));
    }
    let unknown = || {
        Error::Input(format!(
            "--set {key}: unknown key (see `mmgame scenario` for the keys)"
        ))
    };
    let mut node: &mut Value = doc.get_mut(parts[0]).ok_or_else(unknown)?;
    for part in &parts[1..] {
        node = match node {
            Value::Table(t) => t.get_mut(*part).ok_or_else(unknown)?,
            Value::Array(a) => {
                let len = a.len();
                let i: usize = part.parse().map_err(|_| {
                    Error::Input(format!("--set {key}: `{part}` is not an index (0..{len})"))
                })?;
                a.get_mut(i).ok_or_else(|| {
                    Error::Input(format!("--set {key}: index {i} out of range 0..{len}"))
                })?
            }
            _ => return Err(unknown()),
        };
    }
    *node = value;
    Ok(())
}

/// A deserialisation path as the scenario's keys are written: `agents.1.volatility`.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let parts: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    if parts.is_empty() {
        "scenario".into()
    } else {
        parts.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input_error(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        match Scenario::from_toml(text, "s.toml", &o) {
            Err(Error::Input(m)) => m,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn default_is_the_notebook() {
        let s = Scenario::default();
        assert_eq!(s.model.horizon, 1.0);
        assert_eq!(s.model.fee_speed, 0.1);
        assert_eq!(s.agents.len(), 2);
        assert_eq!(s.agents[1].max_volume, 20000.0);
        assert_eq!(
            (s.grid.time_points, s.grid.fee_points, s.grid.stake_points),
            (5, 15, 15)
        );
        assert_eq!(s.grid.control, 3);
        assert_eq!(s.solver.max_iterations, 10);
        assert_eq!(s.path.stakes, [10.0, 10.0]);
    }

    #[test]
    fn partial_files_and_overrides() {
        let s = Scenario::from_toml(
            "[grid]\nfee_points = 7\n[[agents]]\nvolatility = 0.2\n[[agents]]\nmax_volume = 5.0\n",
            "s.toml",
            &[
                "agents.1.volatility=0.3".into(),
                "model.fee_rule=sum".into(),
                "path.stakes=[30,5]".into(),
            ],
        )
        .unwrap();
        assert_eq!(s.grid.fee_points, 7);
        assert_eq!(s.grid.stake_points, 15);
        assert_eq!(s.agents[0].volatility, 0.2);
        assert_eq!(s.agents[0].max_volume, 20000.0);
        assert_eq!(s.agents[1].volatility, 0.3);
        assert_eq!(s.agents[1].max_volume, 5.0);
        assert_eq!(s.model.fee_rule, crate::model::FeeRule::Sum);
        assert_eq!(s.path.stakes, [30.0, 5.0]);
    }

    #[test]
    fn errors_name_the_key() {
        let e = input_error("[model]\nhorizn = 1.0\n", &[]);
        assert!(e.contains("model") && e.contains("horizn"), "{e}");
        let e = input_error("", &["grid.fee_points=1"]);
        assert!(e.starts_with("grid.fee_points = 1"), "{e}");
        let e = input_error("", &["grid.fee_points=2.5"]);
        assert!(e.contains("grid.fee_points"), "{e}");
        let e = input_error("", &["agents.1.volatility=-1"]);
        assert!(e.starts_with("agents.1.volatility"), "{e}");
        let e = input_error("", &["agents.2.volatility=1"]);
        assert!(e.contains("out of range"), "{e}");
        let e = input_error("", &["model.horizon=nan"]);
        assert!(e.contains("finite"), "{e}");
        let e = input_error("", &["model.fee_rule=median"]);
        assert!(e.contains("model.fee_rule") && e.contains("agree"), "{e}");
        let e = input_error("[grid]\nfee_points = \n", &[]);
        assert!(e.contains("line 2") && e.contains("malformed"), "{e}");
        let e = input_error("[[agents]]\n[[agents]]\n[[agents]]\n", &[]);
        assert!(e.contains("exactly two"), "{e}");
        let e = input_error("", &["grid.control=-1"]);
        assert!(e.contains("grid.control"), "{e}");
        let e = input_error("", &["solver.scheme=magic"]);
        assert!(e.contains("solver.scheme"), "{e}");
        let e = input_error("", &["model.stake_response.kind=cubic"]);
        assert!(e.contains("model.stake_response"), "{e}");
        assert!(!e.contains('\n'));
    }
}
