// How attention splits one token's cached positions over workgroups (flash-decoding): chunks of
// at least `min_len` positions, at most `max_chunks`, the positions divided evenly. Each chunk's
// workgroup writes a partial softmax (shaders/attention.wgsl); the o projection's matvec reads
// them combined (shaders/matvec.wgsl, `attention_input`). Both sides call this with the same
// uniforms, so they agree on the chunks.

// -f32::MAX written exactly: Chrome (Tint) refuses a literal such as -3.4028235e38 that only rounds to it.
const NEG_MAX: f32 = -3.40282346638528859811704183484516925440e38;

// Chunks for a token that sees `n_kv` positions in a step of `n_tokens`. Only a decode step (one
// token) is split: a batch's tokens and heads already give the GPU enough workgroups.
fn attn_chunks(n_kv: u32, n_tokens: u32, min_len: u32, max_chunks: u32) -> u32 {
    if (n_tokens > 1u) {
        return 1u;
    }
    return clamp((n_kv + min_len - 1u) / min_len, 1u, max_chunks);
}

// Where chunk c's (m, l, 0, 0) for token t and head h sits in attention's output (a vec4 index):
// after every chunk's o ([chunk][token][row4 vec4s]), [chunk][token][head].
fn attn_stats_at(c: u32, t: u32, h: u32, n_tokens: u32, n_head: u32, row4: u32,
                 max_chunks: u32) -> u32 {
    return max_chunks * n_tokens * row4 + (c * n_tokens + t) * n_head + h;
}
