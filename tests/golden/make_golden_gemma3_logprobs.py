#!/usr/bin/env python3
"""Golden teacher-forced distributions of Gemma 3 270M from llama.cpp (variant "exact").

Writes tests/golden/logprobs_gemma3.json, the schema of logprobs.json (make_golden.py's docstring),
plus each prompt's text, prompt_ids and continuation_ids: the file's Q4_K_M weights dequantized to
F32 by llama.cpp itself (`f32_model_sha256`), an f32 KV cache, the settings of make_golden.py. The
prompts are raw text (the file is the base model, without a chat template), tokenized by llama.cpp
with BOS as the file asks; each continues with 16 greedy tokens of the exact model; every position
of prompt + continuation is teacher-forced from one llama_decode, and "raw" also token by token.

Rerun from the repository root (about a minute, after `cargo xtask setup`; byte-identical output):

    pip install llama-cpp-python==0.3.36
    python3 tests/golden/make_golden_gemma3_logprobs.py --model models/gemma-3-270m.Q4_K_M.gguf
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (its load settings, summaries and JSON layout)

import llama_cpp  # noqa: E402
import llama_cpp.llama_cpp as llcpp  # noqa: E402

PROMPTS = [
    {
        "name": "raw",
        "text": "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg",
    },
    {"name": "code", "text": "def fibonacci(n):\n    if n < 2:\n        return n\n    return"},
    {"name": "french", "text": "La capitale de la France est une ville célèbre pour"},
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "logprobs_gemma3.json")
    args = ap.parse_args()
    if llama_cpp.__version__ != mg.EXPECTED_VERSION:
        print(f"expected llama-cpp-python {mg.EXPECTED_VERSION}, found {llama_cpp.__version__}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        f32_model = Path(tmp) / "f32.gguf"
        mg.dequantize_to_f32(args.model, f32_model)
        f32_sha = mg.sha256_of(f32_model)
        llm = mg.load_eval_model(f32_model, "exact")
        prompts = []
        for p in PROMPTS:
            prompt_ids = llm.tokenize(p["text"].encode(), add_bos=True, special=False)
            cont = mg.greedy_continuation(llm, prompt_ids)
            prompts.append({**p, "prompt_ids": prompt_ids, "continuation_ids": cont, "ids": prompt_ids + cont})
        positions, token_by_token = mg.teacher_forced(llm, prompts)
        n_vocab = llm.n_vocab()
        del llm
    for p, out in zip(prompts, positions):
        out.update({"text": p["text"], "prompt_ids": p["prompt_ids"], "continuation_ids": p["continuation_ids"]})
    mg.write(
        args.out,
        {
            "llama_cpp_python": llama_cpp.__version__,
            "model_sha256": mg.sha256_of(args.model),
            "variant": "exact",
            "f32_model_sha256": f32_sha,
            "n_vocab": n_vocab,
            "top_k": mg.TOP_K,
            "settings": {**mg.COMMON_SETTINGS, **mg.VARIANTS["exact"], "weights": "f32 (dequantized from the Q4_K_M file)"},
            "system_info": llcpp.llama_print_system_info().decode().strip(),
            "prompts": positions,
            "token_by_token": token_by_token,
        },
    )
    print(args.out, "token_by_token", {k: v for k, v in token_by_token.items() if k != "positions"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
