// summary: the next-token distribution of one row of logits reduced on the GPU, so that a step
// reads back a few hundred bytes instead of the vocabulary: log-sum-exp, entropy (nats), the
// largest logit, and the top-N tokens by logit (ties broken by the lower id).
//
// Bindings (group 0):
//   0  logits  read        array<f32>      one row of n_vocab logits
//   1  out     read_write  array<f32>      [lse, entropy, max, 0, (id bits, logit) × top_n]
//   2  s       uniform     SummaryParams
// Dispatch: a single workgroup of WG invocations striding over the vocabulary; every reduction
// goes through workgroup memory (common/reduce.wgsl). Sums are f32: entropies agree with an f64
// computation to ~1e-6 relative. The logits must be finite.

struct SummaryParams {
    n_vocab: u32,
    top_n: u32,  // at most the host's MAX_TOP
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> s: SummaryParams;

var<workgroup> best_id: array<u32, WG>;

const NONE: u32 = 0xffffffffu;

// True when (a, ia) ranks before (b, ib): larger logit first, then lower id. NONE ranks last.
fn ranks_before(a: f32, ia: u32, b: f32, ib: u32) -> bool {
    if (ib == NONE) {
        return ia != NONE;
    }
    if (ia == NONE) {
        return false;
    }
    return a > b || (a == b && ia < ib);
}

// The best-ranked (logit, id) over the workgroup, through wg_scratch and best_id.
fn workgroup_best(lid: u32, v: f32, id: u32) -> u32 {
    wg_scratch[lid] = v;
    best_id[lid] = id;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k >> 1u) {
        if (lid < k && ranks_before(wg_scratch[lid + k], best_id[lid + k], wg_scratch[lid], best_id[lid])) {
            wg_scratch[lid] = wg_scratch[lid + k];
            best_id[lid] = best_id[lid + k];
        }
        workgroupBarrier();
    }
    // Uniform across the workgroup, so callers may branch on it.
    let best = workgroupUniformLoad(&best_id[0]);
    workgroupBarrier();
    return best;
}

@compute @workgroup_size(WG)
fn summary(@builtin(local_invocation_index) lid: u32) {
    // -f32::MAX written exactly (Chrome refuses a literal that only rounds to it).
    var m = -3.40282346638528859811704183484516925440e38;
    for (var i = lid; i < s.n_vocab; i += WG) {
        m = max(m, logits[i]);
    }
    let mx = workgroup_max(lid, m);
    var sum = 0.0;
    var sum_z = 0.0;
    for (var i = lid; i < s.n_vocab; i += WG) {
        let e = exp(logits[i] - mx);
        sum += e;
        sum_z += e * (logits[i] - mx);
    }
    let total = workgroup_sum(lid, sum);
    let total_z = workgroup_sum(lid, sum_z);
    if (lid == 0u) {
        out[0] = mx + log(total);
        // H = −Σ p ln p with ln p = (z − max) − ln Σ: H = ln Σ − Σ p (z − max).
        out[1] = log(total) - total_z / total;
        out[2] = mx;
        out[3] = 0.0;
    }
    // Top-N by repeated selection: round r takes the best element ranked after round r − 1's.
    var prev = mx + 1.0;
    var prev_id = NONE;
    for (var r = 0u; r < s.top_n; r++) {
        var v = 0.0;
        var id = NONE;
        for (var i = lid; i < s.n_vocab; i += WG) {
            let z = logits[i];
            let after_prev = prev_id == NONE || ranks_before(prev, prev_id, z, i);
            if (after_prev && ranks_before(z, i, v, id)) {
                v = z;
                id = i;
            }
        }
        let winner = workgroup_best(lid, v, id);
        if (winner == NONE) {
            break;
        }
        prev_id = winner;
        prev = logits[winner];
        if (lid == 0u) {
            out[4u + 2u * r] = bitcast<f32>(winner);
            out[5u + 2u * r] = prev;
        }
    }
}
