#!/usr/bin/env python3
"""Golden ggml blocks and their dequantized values, from gguf-py (the `gguf` package on PyPI, maintained
in llama.cpp's repository), for tokscope's block decoders (crates/gguf/tests/golden_blocks.rs).

What it makes (in tests/golden/blocks/, deterministic: the same bytes on every run):

  <FORMAT>.bin  whole blocks of FORMAT, back to back, as a GGUF file stores them.
  <FORMAT>.f32  gguf.quants.dequantize of those bytes: little-endian f32, block after block.
  types.tsv     gguf-py's type table: a "# gguf VERSION" line, then one "name id block_elements block_bytes"
                line per type.

Per format, the blocks are (see `blocks_for`):
  - random bytes with every float scale field (f16 `d`, `dmin`, `m`) replaced by a finite f16: random
    magnitudes over the whole f16 range (normal and subnormal, either sign), plus 0, -0 and +-65504;
  - for the formats gguf-py can quantize (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): blocks quantized from random
    floats, so the fixtures also hold blocks as real files do.

Versions: Python 3.11.7, gguf==0.19.0, numpy==2.4.6 (x86_64). To rerun from the repository root:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install gguf==0.19.0 numpy==2.4.6
    /tmp/venv/bin/python tests/golden/make_blocks.py

gguf-py as an oracle for ggml's C `dequantize_row_*`: it groups the operations differently in places (numpy
broadcasting), but for these formats that cannot change a bit. Every product in them is exact in f32: an f16
scale has at most 11 significant bits, and the integers it is multiplied by (sub-block scales, quants, IQ4
levels) at most 13 bits together, so no product needs more than 24 bits (nor leaves f32's range). The only
rounding is the final `+ m` / `- dmin*m` of Q4_1, Q5_1, Q2_K, Q4_K and Q5_K, one rounding in every order of
evaluation, also where a C compiler fuses it into an FMA. So the values are ggml's on any machine.
"""

import pathlib
import sys
from importlib.metadata import version

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

GGUF_VERSION = "0.19.0"
NUMPY_VERSION = "2.4.6"
OUT = pathlib.Path(__file__).resolve().parent / "blocks"

# Byte offsets of each format's f16 scale fields inside a block (ggml-common.h).
F16_SCALES = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.IQ4_NL: [0],
    T.IQ4_XS: [0],
}
QUANTIZABLE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}
# Random-byte blocks per format; 32-element formats get more, being small.
N_RANDOM = {32: 24, 256: 8}
N_QUANTIZED = 8


def finite_f16(rng: np.random.Generator, n: int) -> np.ndarray:
    """n finite f16 values: a few fixed edge cases, then random exponents (subnormal to max) and mantissas."""
    edges = np.array([0.0, -0.0, 65504.0, -65504.0], dtype=np.float16)
    exponent = rng.integers(0, 31, size=n, dtype=np.uint16)  # 31 would be inf/NaN
    mantissa = rng.integers(0, 1 << 10, size=n, dtype=np.uint16)
    sign = rng.integers(0, 2, size=n, dtype=np.uint16)
    bits = (sign << 15) | (exponent << 10) | mantissa
    values = bits.view(np.float16)
    values[: min(n, len(edges))] = edges[: min(n, len(edges))]
    assert np.isfinite(values).all()
    return values


def blocks_for(qtype: T, rng: np.random.Generator) -> np.ndarray:
    """(n_blocks, block_bytes) uint8: random blocks with finite scales, then quantized ones where possible."""
    block, size = GGML_QUANT_SIZES[qtype]
    n = N_RANDOM[block]
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    for off in F16_SCALES[qtype]:
        raw[:, off : off + 2] = finite_f16(rng, n).view(np.uint8).reshape(n, 2)
    parts = [raw]
    if qtype in QUANTIZABLE:
        # Rows of different spreads, one with an outlier, one constant (d = 0 for the symmetric formats).
        x = rng.standard_normal((N_QUANTIZED, block)).astype(np.float32)
        x *= np.float32(10.0) ** rng.uniform(-3, 3, size=(N_QUANTIZED, 1)).astype(np.float32)
        x[1, 5] = np.float32(40.0)
        x[2, :] = np.float32(0.0)
        parts.append(quantize(x, qtype).reshape(N_QUANTIZED, size))
    return np.concatenate(parts)


def main() -> None:
    if version("gguf") != GGUF_VERSION:
        sys.exit(f"gguf {version('gguf')} installed, {GGUF_VERSION} expected")
    if np.__version__ != NUMPY_VERSION:
        sys.exit(f"numpy {np.__version__} installed, {NUMPY_VERSION} expected")
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(20261127)
    for qtype in F16_SCALES:
        blocks = blocks_for(qtype, rng)
        block, size = GGML_QUANT_SIZES[qtype]
        values = dequantize(blocks.reshape(-1), qtype).astype("<f4")
        assert values.shape == (blocks.shape[0] * block,)
        (OUT / f"{qtype.name}.bin").write_bytes(blocks.tobytes())
        (OUT / f"{qtype.name}.f32").write_bytes(values.tobytes())
        print(f"{qtype.name}: {blocks.shape[0]} blocks, {blocks.nbytes + values.nbytes} bytes")
    lines = [f"# gguf {GGUF_VERSION}"] + [f"{t.name}\t{int(t)}\t{GGML_QUANT_SIZES[t][0]}\t{GGML_QUANT_SIZES[t][1]}" for t in T]
    (OUT / "types.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
