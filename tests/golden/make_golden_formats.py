#!/usr/bin/env python3
"""Golden data from llama.cpp for the default model in other weight formats (issue 15's file types).

For each file type of FTYPES, llama.cpp's own quantizer (llama_model_quantize, default params: no
importance matrix, 2 threads) makes the file from the default model's F32 dequantization (the same
F32 file as make_golden.py's "exact" variant); that file is then dequantized to F32 by llama.cpp and
run teacher-forced with an f32 KV cache: make_golden.py's "exact" variant, on the quantized weights.

What it writes: tests/golden/formats/<FTYPE>.json, one per file type, compact JSON, floats rounded to
6 decimals, byte-identical from run to run:

  {"llama_cpp_python", "model_sha256",      # the default model (the Q4_1 file) it all starts from
   "source_f32_sha256": hex,                # its F32 dequantization, the quantizer's input
   "ftype": "Q4_K_M", "ftype_id": int,      # llama_ftype name and id (general.file_type)
   "file": "SmolLM2-135M-Instruct.Q4_K_M.gguf",   # the name `cargo xtask setup` gives it in models/
   "file_sha256": hex, "file_bytes": int,   # the quantized file, whole
   "tensor_types": [str],                   # each tensor's ggml type, in file order
   "variant": "exact",
   "f32_model_sha256": hex,                 # the quantized file dequantized to F32: what llama.cpp ran
   "n_vocab", "top_k": 20, "settings", "library_defaults", "system_info",   # as in logprobs.json
   "prompts": [{"name", "kind", "text", "special", "prompt_ids", "continuation_ids", "prompt_len",
                "ids", "positions": [...]}],
   "token_by_token": null}

  `prompts` are make_golden.py's prompts named in PROMPTS, each with its own greedy continuation of
  N_CONTINUATION tokens from this file (argmax, lowest id on ties, EOS does not stop it); ids = S =
  prompt_ids + continuation_ids. `positions` has logprobs.json's fields, but only the teacher-forced
  positions (continuation: true, the logits after S[0..=i] for i = prompt_len - 1 .. len(S) - 2), to
  keep the files small; all logits come from one llama_decode of the whole S.

Rerun from the repository root (a few minutes; llama-cpp-python 0.3.36, CPU build):

    /tmp/venv-spm/bin/python tests/golden/make_golden_formats.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf

With --keep DIR it also leaves the quantized files in DIR (to compare with tokscope's own).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import llama_cpp
import llama_cpp.llama_cpp as llcpp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (the settings, prompts and summaries this data shares)
import make_quant as mq  # noqa: E402  (the GGUF reader and llama_model_quantize wrapper)

FTYPES = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q5_1", "IQ4_NL", "IQ4_XS"]
PROMPTS = ["chat", "code"]
N_CONTINUATION = 16
OUT = Path(__file__).resolve().parent / "formats"
# The file name `cargo xtask setup` writes each file type under, in models/.
FILE_NAME = "SmolLM2-135M-Instruct.{}.gguf"


def teacher_forced(llm: llama_cpp.Llama, prompts: list[dict]) -> list[dict]:
    """The teacher-forced positions of every prompt's S, from one prefill of S."""
    out = []
    for p in prompts:
        seq, plen = p["ids"], len(p["prompt_ids"])
        logits = mg.prefill_logits(llm, seq)
        positions = [
            {
                "pos": i,
                "n_ctx_tokens": i + 1,
                "continuation": True,
                "next_id": seq[i + 1],
                **mg.summarize(logits[i], seq[i + 1]),
            }
            for i in range(plen - 1, len(seq) - 1)
        ]
        out.append({**p, "prompt_len": plen, "positions": positions})
    return out


def one_format(name: str, f32_source: Path, tmp: Path, common: dict, keep: Path | None) -> dict:
    code = getattr(llcpp, f"LLAMA_FTYPE_MOSTLY_{name}")
    quantized = tmp / FILE_NAME.format(name)
    mq.model_quantize(f32_source, quantized, code)
    _, tensors = mq.read_gguf(quantized)
    exact = tmp / f"{name}.f32.gguf"
    mg.dequantize_to_f32(quantized, exact)

    llm = mg.load_eval_model(exact, "exact")
    assert mg.N_CONTINUATION == N_CONTINUATION
    prompts = []
    for p in (q for q in mg.PROMPTS if q["name"] in PROMPTS):
        prompt_ids = llm.tokenize(p["text"].encode(), add_bos=False, special=p["special"])
        cont = mg.greedy_continuation(llm, prompt_ids)
        prompts.append({
            "name": p["name"],
            "kind": p["kind"],
            "text": p["text"],
            "special": p["special"],
            "prompt_ids": prompt_ids,
            "continuation_ids": cont,
            "ids": prompt_ids + cont,
        })
    positions = teacher_forced(llm, prompts)
    n_vocab = llm.n_vocab()
    del llm

    record = {
        **common,
        "ftype": name,
        "ftype_id": code,
        "file": quantized.name,
        "file_sha256": mg.sha256_of(quantized),
        "file_bytes": quantized.stat().st_size,
        "tensor_types": [mq.TYPE_NAMES[t["type"]] for t in tensors],
        "variant": "exact",
        "f32_model_sha256": mg.sha256_of(exact),
        "n_vocab": n_vocab,
        "top_k": mg.TOP_K,
        "settings": {**mg.COMMON_SETTINGS, "weights": f"f32 (dequantized from the {name} file)",
                     "type_k": "f32", "type_v": "f32"},
        "library_defaults": library_defaults(),
        "system_info": llcpp.llama_print_system_info().decode().strip(),
        "prompts": positions,
        "token_by_token": None,
    }
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(quantized, keep / quantized.name)
    quantized.unlink()
    exact.unlink()
    return record


def library_defaults() -> dict:
    """What llama-cpp-python / llama.cpp would use if not set (as make_golden.py records it)."""
    c = llcpp.llama_context_default_params()
    return {
        "llama_cpp_python_flash_attn": "disabled",
        "llama_cpp_c_flash_attn_type": {-1: "auto", 0: "disabled", 1: "enabled"}[c.flash_attn_type],
        "type_k": "f16" if c.type_k == llcpp.GGML_TYPE_F16 else int(c.type_k),
        "type_v": "f16" if c.type_v == llcpp.GGML_TYPE_F16 else int(c.type_v),
        "llama_cpp_python_n_batch": 512,
        "llama_cpp_python_n_ubatch": 512,
        "use_extra_bufts": bool(llcpp.llama_model_default_params().use_extra_bufts),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--keep", type=Path, help="also keep the quantized files here")
    ap.add_argument("--only", nargs="*", choices=FTYPES, help="only these file types")
    args = ap.parse_args()
    if llama_cpp.__version__ != mg.EXPECTED_VERSION:
        raise SystemExit(f"llama-cpp-python {llama_cpp.__version__}, expected {mg.EXPECTED_VERSION}")
    args.out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        f32_source = tmp / "f32.gguf"
        mg.dequantize_to_f32(args.model, f32_source)
        common = {
            "llama_cpp_python": llama_cpp.__version__,
            "model_sha256": mg.sha256_of(args.model),
            "source_f32_sha256": mg.sha256_of(f32_source),
        }
        for name in args.only or FTYPES:
            record = one_format(name, f32_source, tmp, common, args.keep)
            path = args.out / f"{name}.json"
            mg.write(path, record)
            print(name, record["file_sha256"], record["file_bytes"], "bytes;", path.stat().st_size,
                  "bytes of JSON", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
