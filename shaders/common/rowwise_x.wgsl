// The rowwise matvec's inputs (matvec_rowwise.wgsl) on adapters without subgroups: each
// invocation loads the block's 32 inputs itself. `lane` (gid.x % RW_LANES) is unused here.
fn rw_inputs(xb: u32, lane: u32) -> XBlock {
    return XBlock(x_at(xb), x_at(xb + 1u), x_at(xb + 2u), x_at(xb + 3u), x_at(xb + 4u),
                  x_at(xb + 5u), x_at(xb + 6u), x_at(xb + 7u), 0.0, 0.0);
}
