// RoPE for one element of a head: which element it pairs with and how the pair rotates.
// The angles come from a table the host computes once, `rope_table[pos · rope_half + i]` =
// (cos θ, sin θ) with θ = pos · base^(-2i/rope_dims) advanced in f32 as the CPU backend and
// llama.cpp do; GPU sin/cos of large angles are far less accurate than the CPU's.

struct RopePair {
    rotated: bool,  // false past rope_dims: the element passes through
    first: bool,    // the pair's first element (x0) or its second (x1)
    pair: u32,      // index of the pair, the table column
    partner: u32,   // the other element's index within the head
}

// Element d of a head under Norm (pairs 2i, 2i+1) or NeoX (pairs i, i + half) pairing.
fn rope_pair(d: u32, half: u32, neox: bool) -> RopePair {
    if (d >= 2u * half) {
        return RopePair(false, true, 0u, d);
    }
    if (neox) {
        if (d < half) {
            return RopePair(true, true, d, d + half);
        }
        return RopePair(true, false, d - half, d - half);
    }
    if (d % 2u == 0u) {
        return RopePair(true, true, d / 2u, d + 1u);
    }
    return RopePair(true, false, d / 2u, d - 1u);
}

// The rotated value of an element given its partner: x0·cos − x1·sin for the first element of the
// pair, x0·sin + x1·cos for the second.
fn rope_rotate(own: f32, partner: f32, cs: vec2<f32>, first: bool) -> f32 {
    if (first) {
        return own * cs.x - partner * cs.y;
    }
    return partner * cs.y + own * cs.x;
}
