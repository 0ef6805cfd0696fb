#!/usr/bin/env python3
"""Golden fixtures from llama.cpp for tokscope's fidelity tests.

What it makes (all in tests/golden/, deterministic, compact JSON, floats rounded to 6 decimals):

  tokenization.json  llama.cpp's token ids for the 4 prompts and for 60+ awkward strings.
      {"llama_cpp_python": "0.3.36", "model_sha256": hex, "add_bos": false,
       "cases": [{"text": str, "special": bool, "ids": [int]}]}
      special=true means llama.cpp's parse_special: "<|im_start|>" etc. in the text become single control tokens;
      special=false means they are split as plain text.

  prompts.json  the 4 prompts and their greedy (temperature 0, argmax, lowest id on ties) continuations.
      {"llama_cpp_python", "model_sha256", "greedy_from": "exact",   # continuations come from the "exact" variant
       "prompts": [{"name": str, "kind": "chat"|"raw", "text": str, "special": bool,
                    "prompt_ids": [int], "continuation_ids": [int], "continuation_text": str,
                    "ids": [int]}]}          # ids = S = prompt_ids + continuation_ids

  logprobs.json         variant "exact": teacher-forced next-token distributions of S, from llama.cpp's full logits
                        with the weights dequantized to F32 and an f32 KV cache (self-consistent to ~3e-5).
  logprobs_native.json  variant "native": the same for the Q4_1 file as llama.cpp runs it (Q8_1 activations,
                        f16 KV cache); moves by up to ~0.9 logprob between llama.cpp's own code paths (README.md).
      Both have this schema:
      {"llama_cpp_python", "model_sha256", "variant": "exact"|"native",
       "f32_model_sha256": hex|null,        # sha256 of the dequantized F32 file ("exact" only)
       "n_vocab": int, "top_k": 20,
       "settings": {...exact llama.cpp settings used: COMMON_SETTINGS + VARIANTS[variant] below...},
       "library_defaults": {...what llama-cpp-python / llama.cpp would use if not set...},
       "system_info": str,                   # llama_print_system_info() of the machine that made the file
       "prompts": [{"name": str, "prompt_len": int, "ids": [int],
                    "positions": [{
                        "pos": int,          # index i in S of the token whose logits these are
                        "n_ctx_tokens": int, # context length = i + 1 (tokens S[0..=i] were seen)
                        "continuation": bool,# true when next_id is a generated token (16 per prompt)
                        "next_id": int,      # S[i + 1], the token actually next in S
                        "next_logit": float, # raw logit of next_id
                        "next_logprob": float,
                        "lse": float,        # log-sum-exp of the full logits (float64)
                        "entropy": float,    # nats, H = LSE - sum softmax(z) * z, float64 over all n_vocab
                        "top2_margin": float,# logprob(top-1) - logprob(top-2)
                        "logits_head": [float],  # the first 8 raw logits (debug aid)
                        "top": [[int, float]]    # top-20 [id, logprob], descending, ties by lower id
                    }]}],
       "token_by_token": {                  # prompt "raw" only: S evaluated one token per llama_decode call
           "prompt": "raw", "max_abs_logit_diff": float, "max_abs_logprob_diff": float,
           "max_abs_entropy_diff": float,   # maxima over the continuation positions, vs the one-batch prefill
           "positions": [{"pos", "n_ctx_tokens", "next_id", "lse", "entropy", "top2_margin",
                          "logits_head", "top", "max_abs_logit_diff"}]}}
      Positions cover every i in 0 .. len(S) - 2; those with continuation=true are the 4 x 16 = 64
      teacher-forced positions the issue asks for. All logits come from ONE llama_decode of the whole S
      (n_batch = n_ubatch = 512 >= len(S)), logits_all=True.

Made with llama-cpp-python==0.3.36 (PyPI, built from source for CPU) on the default model
SmolLM2-135M-Instruct.Q4_1.gguf. To rerun (from the repository root):

    pip install llama-cpp-python==0.3.36
    python3 tests/golden/make_golden.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf

Settings that matter for matching (set explicitly below, recorded in each logprobs file's "settings"):
  flash attention DISABLED (llama-cpp-python's default; llama.cpp's C default is "auto"), n_batch = n_ubatch = 512,
  n_ctx = 512, 2 threads, no GPU layers; KV cache f32 ("exact") or f16 (llama.cpp's default, "native"); and
  use_extra_bufts = false: the CPU backend's "extra" weight buffers (AMX / repacked layouts, chosen per CPU) are
  turned off so the numbers come from ggml's portable CPU kernels and do not depend on the CPU that made them
  (with them on, this build segfaults in llama_decode on the project's AMX Xeon).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

import llama_cpp
import llama_cpp.llama_cpp as llcpp

EXPECTED_VERSION = "0.3.36"
TOP_K = 20
N_CONTINUATION = 16
N_LOGITS_HEAD = 8
DECIMALS = 6

# The exact llama.cpp settings of the two variants (recorded in each logprobs file's "settings").
# "exact": the Q4_1 file's weights dequantized to F32 by llama.cpp itself (llama_model_quantize with
#   LLAMA_FTYPE_ALL_F32, allow_requantize), KV cache f32: every matmul is f32 x f32, nothing is rounded after
#   dequantization. This is what an engine that dequantizes weights and computes in f32 should match closely.
# "native": the Q4_1 file as llama.cpp runs it by default: activations quantized to Q8_1 (Q8_0 for the LM head)
#   inside every matmul, KV cache f16. Its numbers are discontinuous in the inputs (see README.md).
COMMON_SETTINGS = {
    "n_ctx": 512,
    "n_batch": 512,
    "n_ubatch": 512,
    "n_threads": 2,
    "n_threads_batch": 2,
    "n_gpu_layers": 0,
    "flash_attn": "disabled",
    "use_extra_bufts": False,
    "logits_all": True,
    "seed": 0,
}
VARIANTS = {
    "exact": {"weights": "f32 (dequantized from the Q4_1 file)", "type_k": "f32", "type_v": "f32"},
    "native": {"weights": "as in the file (Q4_1, token_embd Q8_0)", "type_k": "f16", "type_v": "f16"},
}
OUTPUT_FILE = {"exact": "logprobs.json", "native": "logprobs_native.json"}
GGML_TYPES = {"f16": llcpp.GGML_TYPE_F16, "f32": llcpp.GGML_TYPE_F32}

# (a) chat: SmolLM2's ChatML template rendered by hand for a system + user message pair, with the
# generation prompt. (b) raw English, (c) code, (d) not English.
PROMPTS = [
    {
        "name": "chat",
        "kind": "chat",
        "special": True,
        "text": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    },
    {
        "name": "raw",
        "kind": "raw",
        "special": False,
        "text": "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg",
    },
    {
        "name": "code",
        "kind": "raw",
        "special": False,
        "text": 'def fibonacci(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n',
    },
    {
        "name": "french",
        "kind": "raw",
        "special": False,
        "text": "La tour Eiffel est un monument situé à Paris. Elle a été construite",
    },
]

# Strings that stress a BPE pre-tokenizer. Each is tokenized with special=False; those listed in
# SPECIAL_BOTH also with special=True.
AWKWARD = [
    # digit runs
    "12345678901234",
    "3.14159",
    "1,000,000",
    "0",
    "007",
    "2024-11-27",
    "x1y22z333w4444",
    "1e-10 + 6.02e23",
    "$19.99",
    # whitespace runs
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n\n",
    "   leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "tab\tseparated\t\tvalues",
    " \t \n \r\n mixed",
    "line one\nline two\r\nline three",
    "\n\n  indented after blank lines",
    # emoji
    "😀",
    "hello 👋 world",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇫🇷🇩🇪🇯🇵",
    "👍🏽 thumbs",
    # scripts
    "你好，世界！",
    "東京は日本の首都です。",
    "안녕하세요",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Привет, мир! Как дела?",
    "Ελληνικά",
    "café naïve façade über Ærøskøbing",
    "Ça va? Où êtes-vous?",
    # code
    "def add(a, b):\n    return a + b\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v);\n}",
    '{"key": [1, 2.5, null, true], "nested": {"a": "b"}}',
    '<div class="x"><a href="/p?q=1&amp;r=2">link</a></div>',
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "x<=y && y>=z || !w != v",
    "    # four-space indent\n        eight",
    # URLs, emails, paths
    "https://example.com/path/to/page?query=value&x=1#frag",
    "user.name+tag@example.co.uk",
    "C:\\Users\\name\\file.txt",
    "/usr/local/bin/python3",
    # contractions and case
    "don't",
    "I'M",
    "we've",
    "they'll he'd she's it's",
    "DON'T STOP",
    "camelCaseIdentifier",
    "SCREAMING_SNAKE_CASE",
    "MiXeD cAsE wOrDs",
    "iPhone eBay McDonald",
    # punctuation
    "!!!",
    "???!!!...",
    "......",
    "----",
    "=====",
    "Hello, world! How are you?",
    "(parens) [brackets] {braces}",
    "'single' \"double\" `back`",
    "\u2014em\u2013en dash\u2026",
    # special tokens in text
    "<|im_start|>user\nhi<|im_end|>",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "<|im_start|>assistant\n",
    "<|im_end|>",
    "<|im_start",
    "< |im_start| >",
    "<repo_name>tokscope<file_sep>",
    # invalid-looking things
    "\u0000",
    "a\u0000b",
    "\u0301",
    "e\u0301",
    "\ufeffBOM",
    "\u200b zero width",
    "\U0001d54f\U0001d560\U0001d55a",
    "\x7f\x1b[0m",
]

SPECIAL_BOTH = {
    "<|im_start|>user\nhi<|im_end|>",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "<|im_start|>assistant\n",
    "<|im_end|>",
    "<|im_start",
    "< |im_start| >",
    "<repo_name>tokscope<file_sep>",
    "hello 👋 world",
    "",
}


def rnd(x: float) -> float:
    """Round for JSON; -0.0 becomes 0.0 so the files are byte-stable."""
    v = round(float(x), DECIMALS)
    return 0.0 if v == 0 else v


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(model: Path, **kw) -> llama_cpp.Llama:
    """Llama with use_extra_bufts=false (llama-cpp-python 0.3.36 has no keyword for it, so the model
    default params are patched for the duration of the load)."""
    original = llcpp.llama_model_default_params

    def patched():
        p = original()
        p.use_extra_bufts = COMMON_SETTINGS["use_extra_bufts"]
        return p

    llcpp.llama_model_default_params = patched
    try:
        return llama_cpp.Llama(str(model), verbose=False, **kw)
    finally:
        llcpp.llama_model_default_params = original


def load_eval_model(model: Path, variant: str) -> llama_cpp.Llama:
    c, v = COMMON_SETTINGS, VARIANTS[variant]
    return load(
        model,
        n_ctx=c["n_ctx"],
        n_batch=c["n_batch"],
        n_ubatch=c["n_ubatch"],
        n_threads=c["n_threads"],
        n_threads_batch=c["n_threads_batch"],
        n_gpu_layers=c["n_gpu_layers"],
        type_k=GGML_TYPES[v["type_k"]],
        type_v=GGML_TYPES[v["type_v"]],
        flash_attn=False,
        logits_all=c["logits_all"],
        seed=c["seed"],
    )


def dequantize_to_f32(model: Path, out: Path) -> None:
    """Writes the model with every tensor converted to F32 by llama.cpp's own dequantization."""
    p = llcpp.llama_model_quantize_default_params()
    p.ftype = llcpp.LLAMA_FTYPE_ALL_F32
    p.allow_requantize = True
    p.nthread = COMMON_SETTINGS["n_threads"]
    rc = llcpp.llama_model_quantize(str(model).encode(), str(out).encode(), ctypes.byref(p))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed: {rc}")


def summarize(z32: np.ndarray, next_id: int | None) -> dict:
    """LSE, entropy, top-k and margin of one logits row, all in float64."""
    z = z32.astype(np.float64)
    m = z.max()
    lse = m + math.log(np.exp(z - m).sum())
    logp = z - lse
    p = np.exp(logp)
    entropy = lse - float((p * z).sum())
    ids = np.arange(z.shape[0])
    order = np.lexsort((ids, -z))[:TOP_K]  # descending logit, then ascending id
    out = {
        "lse": rnd(lse),
        "entropy": rnd(entropy),
        "top2_margin": rnd(logp[order[0]] - logp[order[1]]),
        "logits_head": [rnd(v) for v in z32[:N_LOGITS_HEAD]],
        "top": [[int(i), rnd(logp[i])] for i in order],
    }
    if next_id is not None:
        out["next_logit"] = rnd(z32[next_id])
        out["next_logprob"] = rnd(logp[next_id])
    return out


def greedy_continuation(llm: llama_cpp.Llama, prompt_ids: list[int]) -> list[int]:
    """N_CONTINUATION argmax tokens (lowest id on ties; EOS does not stop it)."""
    llm.reset()
    llm.eval(prompt_ids)
    out = []
    for _ in range(N_CONTINUATION):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        llm.eval([tok])
    return out


def prefill_logits(llm: llama_cpp.Llama, ids: list[int]) -> np.ndarray:
    """Logits of every position of ids from ONE llama_decode call (len(ids) <= n_batch)."""
    assert len(ids) <= COMMON_SETTINGS["n_batch"], "sequence must fit one batch"
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def token_by_token_logits(llm: llama_cpp.Llama, ids: list[int]) -> np.ndarray:
    """Logits of every position of ids, decoding one token per llama_decode call."""
    llm.reset()
    for t in ids:
        llm.eval([t])
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def teacher_forced(llm: llama_cpp.Llama, prompts: list[dict]) -> tuple[list, dict]:
    """Per-position summaries of every prompt's S (one-batch prefill), and the token-by-token check on "raw"."""
    out, token_by_token = [], None
    for p in prompts:
        seq, plen = p["ids"], len(p["prompt_ids"])
        logits = prefill_logits(llm, seq)
        positions = [
            {
                "pos": i,
                "n_ctx_tokens": i + 1,
                "continuation": i >= plen - 1,
                "next_id": seq[i + 1],
                **summarize(logits[i], seq[i + 1]),
            }
            for i in range(len(seq) - 1)
        ]
        out.append({"name": p["name"], "prompt_len": plen, "ids": seq, "positions": positions})
        if p["name"] != "raw":
            continue
        single = token_by_token_logits(llm, seq)
        rows = range(plen - 1, len(seq) - 1)
        tbt, ent_diff = [], 0.0
        for i in rows:
            s = summarize(single[i], None)
            ent_diff = max(ent_diff, abs(s["entropy"] - summarize(logits[i], None)["entropy"]))
            tbt.append(
                {
                    "pos": i,
                    "n_ctx_tokens": i + 1,
                    "next_id": seq[i + 1],
                    **s,
                    "max_abs_logit_diff": rnd(np.abs(single[i] - logits[i]).max()),
                }
            )
        token_by_token = {
            "prompt": "raw",
            "max_abs_logit_diff": rnd(max(np.abs(single[i] - logits[i]).max() for i in rows)),
            "max_abs_logprob_diff": rnd(max(np.abs(log_softmax(single[i]) - log_softmax(logits[i])).max() for i in rows)),
            "max_abs_entropy_diff": rnd(ent_diff),
            "positions": tbt,
        }
    return out, token_by_token


def log_softmax(z32: np.ndarray) -> np.ndarray:
    z = z32.astype(np.float64)
    return z - np.logaddexp.reduce(z)


def enc(o) -> str:
    return json.dumps(o, ensure_ascii=True, separators=(",", ":"))


def fmt(o) -> str:
    """Compact JSON, except that the lists under EXPANDED keys hold one item per line (readable diffs)."""
    if isinstance(o, dict):
        parts = []
        for k, v in o.items():
            if k in EXPANDED and isinstance(v, list):
                parts.append(enc(k) + ":[\n" + ",\n".join(fmt(x) for x in v) + "\n]")
            else:
                parts.append(enc(k) + ":" + fmt(v))
        return "{" + ",".join(parts) + "}"
    return enc(o)


EXPANDED = {"cases", "prompts", "positions"}


def write(path: Path, obj: dict) -> None:
    path.write_text(fmt(obj) + "\n", encoding="ascii")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()

    if llama_cpp.__version__ != EXPECTED_VERSION:
        print(f"warning: llama-cpp-python {llama_cpp.__version__}, expected {EXPECTED_VERSION}", file=sys.stderr)

    common = {"llama_cpp_python": llama_cpp.__version__, "model_sha256": sha256_of(args.model)}

    # 1. tokenization
    vocab = load(args.model, vocab_only=True)
    cases = []
    for p in PROMPTS:
        ids = vocab.tokenize(p["text"].encode(), add_bos=False, special=p["special"])
        cases.append({"text": p["text"], "special": p["special"], "ids": ids})
    for text in AWKWARD:
        for special in ([False, True] if text in SPECIAL_BOTH else [False]):
            ids = vocab.tokenize(text.encode(), add_bos=False, special=special)
            cases.append({"text": text, "special": special, "ids": ids})
    write(args.out / "tokenization.json", {**common, "add_bos": False, "cases": cases})
    del vocab

    # 2. prompts and greedy continuations (from the "exact" variant), then both variants' logprobs
    with tempfile.TemporaryDirectory() as tmp:
        f32_model = Path(tmp) / "f32.gguf"
        dequantize_to_f32(args.model, f32_model)
        exact_sha = sha256_of(f32_model)
        llm = load_eval_model(f32_model, "exact")
        prompts_out = []
        for p in PROMPTS:
            prompt_ids = llm.tokenize(p["text"].encode(), add_bos=False, special=p["special"])
            cont = greedy_continuation(llm, prompt_ids)
            prompts_out.append(
                {
                    "name": p["name"],
                    "kind": p["kind"],
                    "text": p["text"],
                    "special": p["special"],
                    "prompt_ids": prompt_ids,
                    "continuation_ids": cont,
                    "continuation_text": llm.detokenize(cont, special=True).decode("utf-8", "replace"),
                    "ids": prompt_ids + cont,
                }
            )
        results = {"exact": teacher_forced(llm, prompts_out)}
        del llm
    llm = load_eval_model(args.model, "native")
    results["native"] = teacher_forced(llm, prompts_out)
    n_vocab = llm.n_vocab()
    del llm

    defaults_c = llcpp.llama_context_default_params()
    library_defaults = {
        "llama_cpp_python_flash_attn": "disabled",
        "llama_cpp_c_flash_attn_type": {-1: "auto", 0: "disabled", 1: "enabled"}[defaults_c.flash_attn_type],
        "type_k": "f16" if defaults_c.type_k == llcpp.GGML_TYPE_F16 else int(defaults_c.type_k),
        "type_v": "f16" if defaults_c.type_v == llcpp.GGML_TYPE_F16 else int(defaults_c.type_v),
        "llama_cpp_python_n_batch": 512,
        "llama_cpp_python_n_ubatch": 512,
        "use_extra_bufts": bool(llcpp.llama_model_default_params().use_extra_bufts),
    }
    write(args.out / "prompts.json", {**common, "greedy_from": "exact", "prompts": prompts_out})
    for variant, (positions, token_by_token) in results.items():
        header = {
            **common,
            "variant": variant,
            "f32_model_sha256": exact_sha if variant == "exact" else None,
            "n_vocab": n_vocab,
            "top_k": TOP_K,
            "settings": {**COMMON_SETTINGS, **VARIANTS[variant]},
            "library_defaults": library_defaults,
            "system_info": llcpp.llama_print_system_info().decode().strip(),
            "prompts": positions,
            "token_by_token": token_by_token,
        }
        write(args.out / OUTPUT_FILE[variant], header)
        print(OUTPUT_FILE[variant], "token_by_token", {k: v for k, v in token_by_token.items() if k != "positions"})
    for f in ("tokenization.json", "prompts.json", *OUTPUT_FILE.values()):
        print(f, (args.out / f).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
