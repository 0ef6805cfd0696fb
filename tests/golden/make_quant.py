#!/usr/bin/env python3
"""Golden quantization data from llama.cpp, for tokscope's quantizers (crates/quant/tests).

What it writes (deterministic: the same bytes on every run):

  tests/golden/quant/adversarial.f32   little-endian f32 rows that stress the quantizers (zeros, -0,
                                       constants, huge, tiny and subnormal values, single outliers,
                                       exact rounding ties, ...): N_ADVERSARIAL rows of ROW values.
  tests/golden/quant/blocks.json       {llama_cpp_python, model_sha256, row, cases:[{name, source,
                                       tensor?, row?, f32_sha256}], formats:{TYPE:[sha256 per case]}}
      Each case is ROW f32 values: a row's first ROW values of a tensor of the default model as llama.cpp
      dequantizes it (source "model": `tensor`, `row`), or a row of adversarial.f32 (source
      "adversarial": `row` is its index). `f32_sha256` is the sha256 of the case's values (little-endian
      f32). `formats[TYPE][i]` is the sha256 of ggml_quantize_chunk(TYPE, case i, nrows = 1,
      n_per_row = ROW, imatrix = NULL): libggml-base's reference quantizers, called through ctypes.
  tests/golden/quant/model.json        {llama_cpp_python, model_sha256, tensors:[{name, dims}],
                                       f32:{types, data}, ftypes:{NAME:{ftype, types, data}}}
      `tensors`: every tensor in llama.cpp's file order (the same in every file). `f32`: the default
      model dequantized to F32 by llama.cpp (llama_model_quantize, ALL_F32, allow_requantize).
      `ftypes`: that F32 file quantized by llama_model_quantize to each file type (default params: no
      imatrix, 2 threads). `types[i]` is tensor i's type, `data[i]` the first 16 hex digits of the
      sha256 of its data.

Versions: llama-cpp-python 0.3.36 (CPU build; libggml-base without FMA or F16C, as the reference
quantizers are compiled portably). Rerun from the repository root (about two minutes):

    /tmp/venv-spm/bin/python tests/golden/make_quant.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import struct
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

import llama_cpp.llama_cpp as llcpp

LLAMA_CPP_PYTHON = "0.3.36"
OUT = Path(__file__).resolve().parent / "quant"
ROW = 512
N_THREADS = 2

# ggml_type ids of the formats tokscope quantizes.
FORMATS = {
    "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
    "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14,
    "IQ4_NL": 20, "IQ4_XS": 23,
}
TYPE_NAMES = {0: "F32", 1: "F16", **{v: k for k, v in FORMATS.items()}}

# The file types of issue 15's golden formats, and issue 17's Q8_0 and Q4_0.
FTYPES = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q5_1", "IQ4_NL", "IQ4_XS", "Q8_0", "Q4_0"]

# (tensor, row) of the default model: every kind of weight, early, middle and last layers.
MODEL_ROWS = [
    ("token_embd.weight", 0), ("token_embd.weight", 1), ("token_embd.weight", 2000),
    ("token_embd.weight", 49151),
    ("blk.0.attn_q.weight", 0), ("blk.0.attn_k.weight", 5), ("blk.0.attn_v.weight", 7),
    ("blk.0.attn_output.weight", 3), ("blk.0.ffn_gate.weight", 0), ("blk.0.ffn_up.weight", 11),
    ("blk.0.ffn_down.weight", 0), ("blk.0.ffn_down.weight", 575),
    ("blk.15.attn_q.weight", 100), ("blk.15.ffn_down.weight", 300), ("blk.15.ffn_gate.weight", 1000),
    ("blk.29.attn_v.weight", 191), ("blk.29.ffn_down.weight", 42), ("blk.29.ffn_up.weight", 1535),
]


def adversarial_rows() -> tuple[list[str], np.ndarray]:
    """Rows that reach the quantizers' edge cases; names say what each tests."""
    rng = np.random.default_rng(20261208)
    normal = lambda: rng.standard_normal(ROW).astype(np.float32)  # noqa: E731
    rows: list[tuple[str, np.ndarray]] = []
    rows.append(("zeros", np.zeros(ROW, np.float32)))
    rows.append(("negative zeros", np.full(ROW, -0.0, np.float32)))
    rows.append(("constant 1", np.ones(ROW, np.float32)))
    rows.append(("constant -3.5", np.full(ROW, -3.5, np.float32)))
    rows.append(("normal", normal()))
    rows.append(("huge 1e30", normal() * np.float32(1e30)))
    rows.append(("f16 overflow 1e6", normal() * np.float32(1e6)))
    rows.append(("extremes +-1e38", np.where(np.arange(ROW) % 2 == 0, 1e38, -1e38).astype(np.float32)))
    rows.append(("tiny 1e-38 (1/d overflows)", normal() * np.float32(1e-38)))
    rows.append(("subnormal 1e-42", normal() * np.float32(1e-42)))
    rows.append(("below group eps 1e-17", normal() * np.float32(1e-17)))
    rows.append(("small 1e-8", normal() * np.float32(1e-8)))
    outlier = normal() * np.float32(0.02)
    outlier[77] = np.float32(50.0)
    rows.append(("one outlier", outlier))
    lone = np.zeros(ROW, np.float32)
    lone[300] = np.float32(-7.25)
    rows.append(("one nonzero", lone))
    mags = np.float32(10.0) ** rng.uniform(-8, 8, size=ROW // 32).astype(np.float32)
    rows.append(("per-block magnitudes", normal() * np.repeat(mags, 32)))
    rows.append(("all positive", rng.uniform(0.0, 1.0, ROW).astype(np.float32)))
    rows.append(("all negative", -rng.uniform(0.5, 2.0, ROW).astype(np.float32)))
    rows.append(("halves -8..8 (ties)", (np.arange(ROW) % 33 - 16).astype(np.float32) * np.float32(0.5)))
    rows.append(("integers -127..127", (np.arange(ROW) % 255 - 127).astype(np.float32)))
    sparse = normal()
    sparse[rng.uniform(size=ROW) < 0.9] = 0.0
    rows.append(("90% zeros", sparse))
    rows.append(("sign step", np.where(np.arange(ROW) < ROW // 2, 1.0, -1.0).astype(np.float32)))
    heavy = rng.standard_t(2, ROW).astype(np.float32)
    rows.append(("heavy tails (t2)", heavy))
    names = [n for n, _ in rows]
    data = np.stack([r.astype("<f4") for _, r in rows])
    assert data.shape == (len(rows), ROW) and np.isfinite(data).all()
    return names, data


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --- a minimal GGUF reader (tensor infos and data) ---------------------------------------------

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
         20: (32, 18), 23: (256, 136), 30: (1, 2)}


class Reader:
    def __init__(self, data: bytes):
        self.d, self.o = data, 0

    def take(self, fmt: str):
        v = struct.unpack_from(fmt, self.d, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self) -> str:
        n = self.take("<Q")
        s = self.d[self.o:self.o + n].decode()
        self.o += n
        return s

    def value(self, t: int):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def read_gguf(path: Path) -> tuple[dict, list[dict]]:
    """(metadata, tensors in file order with name, type, dims and data bytes)."""
    data = path.read_bytes()
    r = Reader(data)
    assert data[:4] == b"GGUF"
    r.o = 4
    r.take("<I")
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        t, off = r.take("<I"), r.take("<Q")
        infos.append((name, dims, t, off))
    align = meta.get("general.alignment", 32)
    base = (r.o + align - 1) // align * align
    tensors = []
    for name, dims, t, off in infos:
        n = int(np.prod(dims))
        block, size = BLOCK[t]
        nbytes = n // block * size
        tensors.append({"name": name, "type": t, "dims": dims, "data": data[base + off: base + off + nbytes]})
    return meta, tensors


# --- llama.cpp ----------------------------------------------------------------------------------

def ggml() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(Path(llcpp.__file__).parent / "lib" / "libggml-base.so"))
    f = lib.ggml_quantize_chunk
    f.restype = ctypes.c_size_t
    f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_int64, ctypes.c_void_p]
    return lib


def quantize_chunk(lib: ctypes.CDLL, t: int, x: np.ndarray) -> bytes:
    x = np.ascontiguousarray(x, dtype="<f4")
    block, size = BLOCK[t]
    out = ctypes.create_string_buffer(len(x) // block * size)
    n = lib.ggml_quantize_chunk(t, x.ctypes.data, out, 0, 1, len(x), None)
    assert n == len(out.raw), (t, n)
    return out.raw


def model_quantize(src: Path, dst: Path, ftype: int) -> None:
    p = llcpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.allow_requantize = True
    p.nthread = N_THREADS
    if llcpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(p)) != 0:
        raise RuntimeError(f"llama_model_quantize to ftype {ftype} failed")


def fingerprint(b: bytes) -> str:
    """The first 16 hex digits of the sha256: enough to tell tensors apart, a quarter of the size."""
    return sha(b)[:16]


def write(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--dump", type=Path, help="also write each format's blocks here (for debugging)")
    args = ap.parse_args()
    if version("llama_cpp_python") != LLAMA_CPP_PYTHON:
        raise SystemExit(f"llama-cpp-python {version('llama_cpp_python')} installed, {LLAMA_CPP_PYTHON} expected")
    OUT.mkdir(exist_ok=True)
    model_sha = sha(args.model.read_bytes())
    lib = ggml()
    with tempfile.TemporaryDirectory() as tmp:
        f32_path = Path(tmp) / "f32.gguf"
        model_quantize(args.model, f32_path, llcpp.LLAMA_FTYPE_ALL_F32)
        _, f32_tensors = read_gguf(f32_path)
        by_name = {t["name"]: t for t in f32_tensors}

        cases, inputs = [], []
        for name, row in MODEL_ROWS:
            t = by_name[name]
            values = np.frombuffer(t["data"], dtype="<f4").reshape(-1, t["dims"][0])[row, :ROW].copy()
            cases.append({"name": f"{name} row {row}", "source": "model", "tensor": name, "row": row})
            inputs.append(values)
        adv_names, adv = adversarial_rows()
        (OUT / "adversarial.f32").write_bytes(adv.tobytes())
        for i, n in enumerate(adv_names):
            cases.append({"name": n, "source": "adversarial", "row": i})
            inputs.append(adv[i])
        for c, x in zip(cases, inputs):
            c["f32_sha256"] = sha(x.astype("<f4").tobytes())
        formats = {}
        for fname, t in FORMATS.items():
            blocks = [quantize_chunk(lib, t, x) for x in inputs]
            formats[fname] = [sha(b) for b in blocks]
            if args.dump:
                args.dump.mkdir(exist_ok=True, parents=True)
                (args.dump / f"{fname}.bin").write_bytes(b"".join(blocks))
        if args.dump:
            (args.dump / "inputs.f32").write_bytes(np.stack(inputs).astype("<f4").tobytes())
        write(OUT / "blocks.json", {"llama_cpp_python": LLAMA_CPP_PYTHON, "model_sha256": model_sha,
                                    "row": ROW, "cases": cases, "formats": formats})

        names = [t["name"] for t in f32_tensors]
        ftypes = {}
        for name in FTYPES:
            code = getattr(llcpp, f"LLAMA_FTYPE_MOSTLY_{name}")
            out = Path(tmp) / f"{name}.gguf"
            model_quantize(f32_path, out, code)
            _, tensors = read_gguf(out)
            assert [t["name"] for t in tensors] == names, name
            ftypes[name] = {"ftype": code, "types": [TYPE_NAMES[t["type"]] for t in tensors],
                            "data": [fingerprint(t["data"]) for t in tensors]}
            out.unlink()
            print(name, "done")
        write(OUT / "model.json", {
            "llama_cpp_python": LLAMA_CPP_PYTHON, "model_sha256": model_sha,
            "tensors": [{"name": t["name"], "dims": t["dims"]} for t in f32_tensors],
            "f32": {"types": [TYPE_NAMES[t["type"]] for t in f32_tensors],
                    "data": [fingerprint(t["data"]) for t in f32_tensors]},
            "ftypes": ftypes})


if __name__ == "__main__":
    main()
