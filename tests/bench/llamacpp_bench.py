#!/usr/bin/env python3
"""llama.cpp speed baseline for `tokscope bench`: prefill and greedy decode tokens per second.

Uses PyPI llama-cpp-python (0.3.36 when these numbers were taken) with llama.cpp's own defaults except the thread
counts (n_threads = n_threads_batch = --threads), n_ctx 512, no GPU layers, and use_extra_bufts = false: with the
default (true) the CPU backend repacks the weights for AMX on CPUs that have it, and that build segfaults in
llama_decode on the project's machine (Xeon with AMX); off, the portable AVX2/AVX-512 kernels run. The prompt is tests/bench/prompt.txt,
used verbatim (no trailing newline, 96 tokens with the default model, no BOS), so the Rust bench can use the same
text. Decode is greedy and, like tokscope, copies the full logits vector into a numpy array at every step before
taking the argmax; EOS does not stop it, so exactly --max-tokens decode calls are timed.

Prints ONE JSON object:
  {"engine": "llama.cpp", "version": str, "threads": int, "prompt_tokens": int,
   "prefill_tok_s": float, "decode_tok_s": float, "tokens": int}

Usage: python3 tests/bench/llamacpp_bench.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import llama_cpp
import llama_cpp.llama_cpp as llcpp

DEFAULT_PROMPT = Path(__file__).resolve().parent / "prompt.txt"


def last_logits(llm: llama_cpp.Llama) -> np.ndarray:
    """Copy of the logits of the last evaluated token (the full vocabulary)."""
    ptr = llm._ctx.get_logits_ith(-1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()


def load(model: str, threads: int) -> llama_cpp.Llama:
    """Llama with use_extra_bufts = false (0.3.36 has no keyword for it: the model default params are patched
    for the duration of the load)."""
    original = llcpp.llama_model_default_params

    def patched():
        p = original()
        p.use_extra_bufts = False
        return p

    llcpp.llama_model_default_params = patched
    try:
        return llama_cpp.Llama(
            model, n_ctx=512, n_threads=threads, n_threads_batch=threads, n_gpu_layers=0, verbose=False
        )
    finally:
        llcpp.llama_model_default_params = original


def main() -> int:
    ap = argparse.ArgumentParser(description="llama.cpp prefill / decode tok/s baseline")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--prompt", help="prompt text (default: the contents of tests/bench/prompt.txt)")
    args = ap.parse_args()

    text = args.prompt if args.prompt is not None else DEFAULT_PROMPT.read_text(encoding="utf-8")
    llm = load(args.model, args.threads)
    prompt = llm.tokenize(text.encode(), add_bos=False, special=False)
    if not prompt or len(prompt) + args.max_tokens > llm.n_ctx():
        print("prompt empty or prompt + max tokens over n_ctx 512", file=sys.stderr)
        return 2

    # Warm-up (page in the weights, start the thread pool), then one timed prefill.
    llm.eval(prompt)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    logits = last_logits(llm)
    prefill_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(args.max_tokens):
        token = int(np.argmax(logits))
        llm.eval([token])
        logits = last_logits(llm)
    decode_s = time.perf_counter() - t0

    print(
        json.dumps(
            {
                "engine": "llama.cpp",
                "version": llama_cpp.__version__,
                "threads": args.threads,
                "prompt_tokens": len(prompt),
                "prefill_tok_s": round(len(prompt) / prefill_s, 1),
                "decode_tok_s": round(args.max_tokens / decode_s, 1),
                "tokens": args.max_tokens,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
