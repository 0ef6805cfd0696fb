#!/usr/bin/env python3
"""Golden distributions of tiny synthesized models of each architecture, from llama.cpp.

Writes tests/golden/logprobs_tiny_archs.json (deterministic, compact JSON, one position per line):

  {"llama_cpp_python": "0.3.36", "variant": "exact", "top_k": 20, "settings": {...},
   "models": [{"name": str, "file_sha256": hex, "n_vocab": int,
               "prompts": [{"name": str, "ids": [int],
                            "positions": [{"pos", "next_id", "lse", "entropy", "top2_margin",
                                           "logits_head", "top", "next_logit", "next_logprob"}]}]}]}

The models are random tiny files written by tokscope's own GGUF writer (crates/reference/src/tiny.rs,
`golden_arch_models`): qwen3 (QK-norm, query heads wider than the model), llama with Llama 3's RoPE
scaling (rope_freqs.weight), qwen2 with q/k/v biases, gemma3 (embedding scale, QK-norm, post-norms,
GeGLU, sliding-window and global layers with a window of 4). Their weights are F32, so llama.cpp
computes f32 x f32 with an f32 KV cache: the "exact" variant of make_golden.py (same settings).
`file_sha256` pins the bytes: the Rust test regenerates each model and checks it first.

Every position of every prompt (token ids, given below) is teacher-forced from one llama_decode.
Rerun from the repository root (seconds; byte-identical output):

    cargo run -p tokscope-reference --example write_tiny_archs -- /tmp/tiny-archs
    pip install llama-cpp-python==0.3.36
    python3 tests/golden/make_golden_archs.py --models /tmp/tiny-archs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (its load settings, summaries and JSON layout)

import llama_cpp  # noqa: E402

mg.EXPANDED.add("models")

MODELS = ["qwen3", "llama3_rope", "qwen2_bias", "gemma3"]

# Token ids of a 64-token vocabulary: a walk, a repetition (long enough to slide gemma3's window
# many times), and a short one.
PROMPTS = [
    {"name": "walk", "ids": [(7 * i * i + 3 * i + 5) % 64 for i in range(24)]},
    {"name": "repeat", "ids": [3, 17, 42, 8] * 6},
    {"name": "short", "ids": [61, 0, 29]},
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", required=True, type=Path, help="directory written by write_tiny_archs")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "logprobs_tiny_archs.json")
    args = ap.parse_args()
    if llama_cpp.__version__ != mg.EXPECTED_VERSION:
        print(f"expected llama-cpp-python {mg.EXPECTED_VERSION}, found {llama_cpp.__version__}", file=sys.stderr)
        return 1
    models = []
    for name in MODELS:
        path = args.models / f"{name}.gguf"
        llm = mg.load_eval_model(path, "exact")
        prompts = []
        for p in PROMPTS:
            seq = p["ids"]
            logits = mg.prefill_logits(llm, seq)
            positions = [{"pos": i, "next_id": seq[i + 1], **mg.summarize(logits[i], seq[i + 1])} for i in range(len(seq) - 1)]
            # The last position has no next token; its distribution is checked all the same.
            positions.append({"pos": len(seq) - 1, **mg.summarize(logits[len(seq) - 1], None)})
            prompts.append({"name": p["name"], "ids": seq, "positions": positions})
        models.append({"name": name, "file_sha256": mg.sha256_of(path), "n_vocab": llm.n_vocab(), "prompts": prompts})
        del llm
    settings = {**mg.COMMON_SETTINGS, **mg.VARIANTS["exact"], "weights": "f32 (as written)"}
    mg.write(
        args.out,
        {
            "llama_cpp_python": llama_cpp.__version__,
            "variant": "exact",
            "top_k": mg.TOP_K,
            "settings": settings,
            "models": models,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
