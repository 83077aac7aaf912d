// Shared by notebook_best_response and notebook_step (no entry point): the best response at one
// state and the workgroup's sum of policy changes. It reads the bindings `v_new_next0`,
// `v_new_next1` that those kernels declare. CPU twin: best_response_cell in src/cpu/notebook.rs.

var<workgroup> change: array<u32, WORKGROUP_SIZE>;

// The action codes are packed four to a u32 word (code_at in common.wgsl), and WGSL has no
// byte stores: invocations storing into one word would race. So each invocation leaves its
// state's new code here (in the fused kernel agent 1's 8 bits up), and the first invocation
// of each four writes their word; the four are in one workgroup as WORKGROUP_SIZE % 4 == 0.
var<workgroup> new_codes: array<u32, WORKGROUP_SIZE>;

// The packed word of the four states from `local` (a multiple of 4): their codes `shift`
// bits up in new_codes.
fn packed_codes(local: u32, shift: u32) -> u32 {
    var word = 0u;
    for (var i = 0u; i < 4u; i++) {
        word |= ((new_codes[local + i] >> shift) & 0xFFu) << (8u * i);
    }
    return word;
}

// Whether this invocation writes the packed word of its state: the first state of the word.
// Call after store_workgroup_change (whose barriers make new_codes visible) and a
// storageBarrier (every invocation has then read the words it needed before any is stored).
fn writes_word(state: u32, local: u32) -> bool {
    return local % 4u == 0u && state < params.slice_len;
}

fn v_new_next(agent: u32, at: u32) -> real {
    if (agent == 0u) {
        return v_new_next0[at];
    }
    return v_new_next1[at];
}

// `agent`'s best control at time t of the state (fee, s0, s1) against the other agent's action
// `other`, scored by the gain at the physical post-move point plus this iteration's value at
// t+1 on the node stepped by whole cells; the first control with the largest total wins.
fn best_response_state(agent: u32, fee: u32, s0: u32, s1: u32, other: u32) -> u32 {
    let ns = params.stake_points;
    var best = 0u;
    var best_total = real(0.0);
    for (var own = 0u; own < CONTROLS; own++) {
        let c0 = select(own, other, agent == 1u);
        let c1 = select(other, own, agent == 1u);
        let fee_entry = fee * PAIR_CODES + pair_index(c0, c1);
        let next = (indices[params.fee_step_at + fee_entry] * ns
            + indices[params.stake_step_at + s0 * ACTION_CODES + c0]) * ns
            + indices[params.stake_step_at + s1 * ACTION_CODES + c1];
        let total = gain_dt(agent, fee, s0, s1, c0, c1) + v_new_next(agent, next);
        if (own == 0u || total > best_total) {
            best = own;
            best_total = total;
        }
    }
    return best;
}

// The chosen control, or for the test-only perturbed state a wrong one (a kernel error that
// validation must catch).
fn perturbed(state: u32, chosen: u32) -> u32 {
    return select(chosen, (chosen + 1u) % CONTROLS, state == params.perturbed_state);
}

// |value(old) - value(chosen)|: one state's share of the policy change.
fn action_change(old: u32, chosen: u32) -> u32 {
    return indices[params.action_change_at + old * ACTION_CODES + chosen];
}

// Tree reduction of the workgroup's changes (the first level of the policy-change reduction;
// notebook_policy_change.wgsl is the second); every invocation must call it.
fn store_workgroup_change(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32, changed: u32) {
    change[local] = changed;
    workgroupBarrier();
    for (var width = WORKGROUP_SIZE / 2u; width > 0u; width /= 2u) {
        if (local < width) {
            change[local] += change[local + width];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        partials[step.partials_at + workgroup.y * workgroups.x + workgroup.x] = change[0];
    }
}
