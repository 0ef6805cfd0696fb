// The per-step uniform of the kernels that depend on the positions (RoPE, KV append, attention)
// and of those that work on the model's fixed widths (embedding, rmsnorm). A step runs
// `n_tokens` consecutive tokens (1 when decoding, up to the batch size in prefill), token t at
// position pos + t; batched kernels take the token from the z dimension of their grid.
// Written once per step (16 u32/f32, 64 bytes) before the step's commands are submitted.
// Mirrored by `ModelParams` in crates/gpu/src/kernels.rs.
struct ModelParams {
    n_tokens: u32,    // tokens in this step
    pos: u32,         // position of the step's first token (its KV cache slot)
    _pad3: u32,
    n_embd: u32,      // width of the residual stream, in elements
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,    // elements per head
    rope_half: u32,   // rotated pairs per head (rope_dims / 2)
    rope_neox: u32,   // 1: pairs (i, i + rope_half); 0: pairs (2i, 2i + 1)
    n_ctx: u32,       // positions the cache holds (row stride of the attention scores)
    n_ff: u32,        // width of the feed-forward hidden layer, in elements
    _pad0: u32,
    rms_eps: f32,
    attn_scale: f32,  // 1 / sqrt(head_dim)
    _pad1: u32,
    _pad2: u32,
}
