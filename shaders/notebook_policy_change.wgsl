// notebook_policy_change: the second level of the policy-change reduction. Each workgroup
// sums WORKGROUP_SIZE of the best response's per-workgroup partial sums; the CPU adds the
// few results in u64 once per iteration.

@group(0) @binding(0) var<storage, read> partials: array<u32>;
@group(0) @binding(1) var<storage, read_write> sums: array<u32>;

var<workgroup> total: array<u32, WORKGROUP_SIZE>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn notebook_policy_change(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let group = workgroup.y * workgroups.x + workgroup.x;
    let i = group * WORKGROUP_SIZE + local;
    var value = 0u;
    if (i < arrayLength(&partials)) {
        value = partials[i];
    }
    total[local] = value;
    workgroupBarrier();
    for (var width = WORKGROUP_SIZE / 2u; width > 0u; width /= 2u) {
        if (local < width) {
            total[local] += total[local + width];
        }
        workgroupBarrier();
    }
    if (local == 0u && group < arrayLength(&sums)) {
        sums[group] = total[0];
    }
}
