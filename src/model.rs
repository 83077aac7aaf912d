//! The game's economics: response functions, expected volume, running gain and the fee rule.
//!
//! Pure f64 functions of the scenario's parameters. This module never touches wgpu, the grid or
//! the solvers; the CPU solvers and the table builders call into it, and the WGSL versions in
//! `shaders/common.wgsl` transcribe the same formulas (tests compare the two).

use serde::{Deserialize, Serialize};

/// How the trading volume responds to the fee (the notebook's `fee_volume_response`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FeeResponse {
    /// φ(f) = 1/(c + offset) − c with c = clamp(f, 0, 1).
    Reciprocal { offset: f64 },
}

impl FeeResponse {
    pub fn eval(&self, fee: f64) -> f64 {
        match *self {
            FeeResponse::Reciprocal { offset } => {
                // The notebook clamps to [0, 1] whatever the fee grid's range is.
                let c = fee.clamp(0.0, 1.0);
                1.0 / (c + offset) - c
            }
        }
    }
}

/// How the trading volume responds to the total stake (the notebook's `stake_volume_response`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StakeResponse {
    /// ψ(S) = 1/(1 + exp(−slope·S + shift)) − 1/(1 + exp(shift)), so that ψ(0) = 0.
    Logistic { slope: f64, shift: f64 },
}

impl StakeResponse {
    pub fn eval(&self, stake: f64) -> f64 {
        match *self {
            StakeResponse::Logistic { slope, shift } => {
                1.0 / (1.0 + (-slope * stake + shift).exp()) - 1.0 / (1.0 + shift.exp())
            }
        }
    }
}

/// How the fee moves when the agents change their stakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeRule {
    /// The notebook's rule: the fee moves by agent 0's action when both agents move the same way.
    Agree,
    /// The paper's linear rule (section 4.1): the fee moves by the sum of both actions.
    Sum,
}

impl FeeRule {
    /// The fee action a_f for actions (a0, a1); the fee then moves by −γ·a_f·dt.
    pub fn fee_action(self, a0: f64, a1: f64) -> f64 {
        match self {
            FeeRule::Agree if (a0 > 0.0 && a1 > 0.0) || (a0 < 0.0 && a1 < 0.0) => a0,
            FeeRule::Agree => 0.0,
            FeeRule::Sum => a0 + a1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FeeRule::Agree => "agree",
            FeeRule::Sum => "sum",
        }
    }
}

/// One market maker's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// σ_i: the volatility the agent sees.
    pub volatility: f64,
    /// ρ_i (`rRisk`): the agent's cost of capital.
    pub capital_cost: f64,
    /// N_i (`N_max`): the largest volume the agent expects.
    pub max_volume: f64,
}

/// The game's parameters (the scenario's `[model]` table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// T.
    pub horizon: f64,
    /// γ.
    pub fee_speed: f64,
    /// λ.
    pub risk_weight: f64,
    /// r.
    pub discount_rate: f64,
    pub fee_rule: FeeRule,
    pub fee_response: FeeResponse,
    pub stake_response: StakeResponse,
}

/// The model together with its two agents: everything the gain needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Game {
    pub model: Model,
    pub agents: [Agent; 2],
}

impl Game {
    /// V_i: the volume agent `i` expects, (S_i / S)·N_i·φ(f)·ψ(S) with S = S_0 + S_1, 0 when S ≤ 0.
    /// The operations are in the notebook's order.
    pub fn volume(&self, agent: usize, fee: f64, stakes: [f64; 2]) -> f64 {
        let total = stakes[0] + stakes[1];
        if total <= 0.0 {
            return 0.0;
        }
        stakes[agent] / total
            * self.agents[agent].max_volume
            * self.model.fee_response.eval(fee)
            * self.model.stake_response.eval(total)
    }

    /// g_i(t, f, S_0, S_1) = e^(−r t)·(f·V_i − λ σ_i S_i) − e^(ρ_i t)·S_i, in the notebook's order.
    pub fn running_gain(&self, agent: usize, time: f64, fee: f64, stakes: [f64; 2]) -> f64 {
        let a = &self.agents[agent];
        let m = &self.model;
        (-m.discount_rate * time).exp()
            * (fee * self.volume(agent, fee, stakes) - m.risk_weight * a.volatility * stakes[agent])
            - (a.capital_cost * time).exp() * stakes[agent]
    }

    /// The running gain split into factors that the solvers tabulate once per solve:
    /// g_i = discount(t) · fee_factor(f) · stake_factor_i(S_0, S_1) − holding_rate_i(t) · S_i.
    /// Equal to [`Game::running_gain`] up to rounding (the products are grouped differently).
    pub fn fee_factor(&self, fee: f64) -> f64 {
        fee * self.model.fee_response.eval(fee)
    }

    /// (S_i / S)·N_i·ψ(S), or 0 when S ≤ 0; see [`Game::fee_factor`].
    pub fn stake_factor(&self, agent: usize, stakes: [f64; 2]) -> f64 {
        self.stake_factors(stakes)[agent]
    }

    /// Both agents' [`Game::stake_factor`], with ψ evaluated once (the tables of a solve hold
    /// millions of these, and ψ's exponentials are most of their cost).
    pub fn stake_factors(&self, stakes: [f64; 2]) -> [f64; 2] {
        let total = stakes[0] + stakes[1];
        if total <= 0.0 {
            return [0.0; 2];
        }
        let psi = self.model.stake_response.eval(total);
        [0, 1].map(|agent| stakes[agent] / total * self.agents[agent].max_volume * psi)
    }

    /// e^(−r t); see [`Game::fee_factor`].
    pub fn discount(&self, time: f64) -> f64 {
        (-self.model.discount_rate * time).exp()
    }

    /// e^(−r t)·λ·σ_i + e^(ρ_i t): the cost per unit of stake held at time t; see
    /// [`Game::fee_factor`].
    pub fn holding_rate(&self, agent: usize, time: f64) -> f64 {
        let a = &self.agents[agent];
        self.discount(time) * (self.model.risk_weight * a.volatility)
            + (a.capital_cost * time).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;

    fn game() -> Game {
        Scenario::default().game()
    }

    #[test]
    fn fee_response_matches_notebook_values() {
        let phi = game().model.fee_response;
        // The notebook prints y[100] of fee_volume_response(linspace(0, 1, 200)).
        let x = 100.0 * (1.0 / 199.0);
        assert_eq!(phi.eval(x), 1.0 / (x + 0.001) - x);
        assert_eq!(phi.eval(0.0), 1000.0);
        assert_eq!(phi.eval(-0.5), 1000.0, "negative fees are clamped to 0");
        assert_eq!(phi.eval(1.0), 1.0 / 1.001 - 1.0);
        assert_eq!(
            phi.eval(3.0),
            phi.eval(1.0),
            "fees above 1 are clamped to 1"
        );
    }

    #[test]
    fn stake_response_is_zero_at_zero_and_rises() {
        let psi = game().model.stake_response;
        assert_eq!(psi.eval(0.0), 0.0);
        let at_40 = 1.0 / (1.0 + (-0.05f64 * 40.0 + 2.0).exp()) - 1.0 / (1.0 + 2f64.exp());
        assert_eq!(psi.eval(40.0), at_40);
        assert!((psi.eval(40.0) - (0.5 - 1.0 / (1.0 + 2f64.exp()))).abs() < 1e-15);
        assert!(psi.eval(10.0) < psi.eval(20.0));
        assert!(psi.eval(-10.0) < 0.0);
    }

    #[test]
    fn agree_rule_moves_the_fee_only_when_both_move_the_same_way() {
        let r = FeeRule::Agree;
        assert_eq!(r.fee_action(3.0, 3.0), 3.0);
        assert_eq!(r.fee_action(-3.0, -3.0), -3.0);
        assert_eq!(r.fee_action(3.0, 0.0), 0.0);
        assert_eq!(r.fee_action(0.0, 3.0), 0.0);
        assert_eq!(r.fee_action(3.0, -3.0), 0.0);
        // The notebook's initial action 1 is a real action: agent 0's value is taken.
        assert_eq!(r.fee_action(1.0, 3.0), 1.0);
        assert_eq!(r.fee_action(3.0, 1.0), 3.0);
    }

    #[test]
    fn sum_rule_moves_the_fee_when_one_agent_moves() {
        let r = FeeRule::Sum;
        assert_eq!(r.fee_action(3.0, 0.0), 3.0);
        assert_eq!(r.fee_action(0.0, -3.0), -3.0);
        assert_eq!(r.fee_action(3.0, -3.0), 0.0);
        assert_eq!(r.fee_action(3.0, 3.0), 6.0);
    }

    #[test]
    fn volume_and_gain_follow_the_formula() {
        let g = game();
        assert_eq!(g.volume(0, 0.1, [0.0, 0.0]), 0.0);
        assert_eq!(g.volume(0, 0.1, [-1.0, 0.5]), 0.0);
        let s = [10.0, 30.0];
        let v1 = 30.0 / 40.0 * 20000.0 * (1.0 / 0.101 - 0.1) * g.model.stake_response.eval(40.0);
        assert_eq!(g.volume(1, 0.1, s), v1);
        let gain1 =
            (-0.02f64 * 0.25).exp() * (0.1 * v1 - 0.1 * 0.1 * 30.0) - (0.01f64 * 0.25).exp() * 30.0;
        assert_eq!(g.running_gain(1, 0.25, 0.1, s), gain1);
    }

    #[test]
    fn factored_gain_equals_the_notebook_gain_up_to_rounding() {
        let g = game();
        for &t in &[0.0, 0.25, 0.75] {
            for &f in &[0.0, 0.025, 0.1, 0.6, 1.0, 1.2] {
                for &s in &[
                    [0.0, 0.0],
                    [-0.75, 0.0],
                    [10.0, 10.75],
                    [120.0, 0.0],
                    [5.0, 119.0],
                ] {
                    for agent in 0..2 {
                        let exact = g.running_gain(agent, t, f, s);
                        let factored = g.discount(t) * g.fee_factor(f) * g.stake_factor(agent, s)
                            - g.holding_rate(agent, t) * s[agent];
                        let scale = exact.abs().max(1.0);
                        assert!(
                            (exact - factored).abs() <= 1e-14 * scale,
                            "t={t} f={f} s={s:?} agent={agent}: {exact} vs {factored}"
                        );
                    }
                }
            }
        }
    }
}
