#!/usr/bin/env python3
"""Golden tokenization of Gemma 3 270M (a SentencePiece vocabulary) from llama.cpp.

Writes tests/golden/tokenization_gemma3.json (deterministic, compact JSON, one case per line):

  {"llama_cpp_python": "0.3.36", "model_sha256": hex,
   "n_vocab": int, "bos_id": int, "eos_id": int,
   "add_bos": bool, "add_eos": bool,      # the file's tokenizer.ggml.add_bos_token / add_eos_token
   "eog_ids": [int],                      # every id llama_vocab_is_eog accepts
   "cases": [{"text": str, "special": bool, "ids": [int]}],
   "pieces": [[id, hex]]}                 # llama_token_to_piece(id, special=true) as hex bytes

  cases: every text of tokenization.json (the default model's awkward strings and prompts), then
      Gemma's own markup and whitespace cases, each with special false and true. ids are what
      llama_tokenize returns with add_special=true (BOS/EOS as the file says) and parse_special =
      special: what a prompt becomes.
  pieces: the tokens of all cases plus chosen ids of every token type (control, user-defined,
      byte, unused, the space marker): how llama.cpp shows each token.

Load: vocab_only=True, use_extra_bufts=false as in make_golden.py. Rerun from the repository root
(seconds, after `cargo xtask setup` placed the model; byte-identical output from run to run):

    pip install llama-cpp-python==0.3.36
    python3 tests/golden/make_golden_gemma3.py --model models/gemma-3-270m.Q4_K_M.gguf
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (its load(), hashing and JSON layout)

import llama_cpp  # noqa: E402
import llama_cpp.llama_cpp as llcpp  # noqa: E402

# Gemma's markup (control and user-defined tokens), its whitespace tokens, SentencePiece quirks.
GEMMA_CASES = [
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>",
    "<eos>",
    "<pad><unk><mask>",
    "<unused0> and <unused6241>",
    "[multimodal]",
    "<start_of_image><end_of_image>",
    "<table><tr><td>cell</td></tr></table>",
    "<b>bold</b> <i>it</i> <code>x</code>",
    "<s>struck</s> out",
    "a  b   c     d" + " " * 40 + "e",
    "\t\tx\t\t\t\ty",
    "\n" * 40,
    "\u2581",
    "\u2581\u2581 marker \u2581x",
    "<0x41><0xFF>",
    "<start_of_turn",
    "text<end_of_turn>more",
    " leading space",
    "\r\n\r\n",
    "\U0010ffff\ue000",
]


def piece(vocab, token: int) -> bytes:
    buf = ctypes.create_string_buffer(256)
    n = llcpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
    if n < 0:
        raise RuntimeError(f"piece of {token} longer than {len(buf)} bytes")
    return buf.raw[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    if llama_cpp.__version__ != mg.EXPECTED_VERSION:
        print(f"warning: llama-cpp-python {llama_cpp.__version__}, expected {mg.EXPECTED_VERSION}", file=sys.stderr)

    llm = mg.load(args.model, vocab_only=True)
    vocab = llcpp.llama_model_get_vocab(llm.model)
    n_vocab = llcpp.llama_vocab_n_tokens(vocab)
    add_bos = bool(llcpp.llama_vocab_get_add_bos(vocab))
    add_eos = bool(llcpp.llama_vocab_get_add_eos(vocab))

    default_cases = json.loads((args.out / "tokenization.json").read_text(encoding="ascii"))["cases"]
    texts = list(dict.fromkeys([c["text"] for c in default_cases] + GEMMA_CASES))
    cases = []
    for text in texts:
        for special in (False, True):
            ids = llm.tokenize(text.encode(), add_bos=True, special=special)
            cases.append({"text": text, "special": special, "ids": ids})

    eog_ids = [t for t in range(n_vocab) if llcpp.llama_vocab_is_eog(vocab, t)]
    chosen = {0, 1, 2, 3, 4, 5, 6, 105, 106, 107, 108, 138, 168, 238, 248, 269, 493, 255968, 255999, 262143}
    chosen |= {t for c in cases for t in c["ids"]}
    chosen |= {t for t in range(n_vocab) if t % 4099 == 0}
    pieces = [[t, piece(vocab, t).hex()] for t in sorted(chosen)]

    out = {
        "llama_cpp_python": llama_cpp.__version__,
        "model_sha256": mg.sha256_of(args.model),
        "n_vocab": n_vocab,
        "bos_id": llcpp.llama_vocab_bos(vocab),
        "eos_id": llcpp.llama_vocab_eos(vocab),
        "add_bos": add_bos,
        "add_eos": add_eos,
        "eog_ids": eog_ids,
        "cases": cases,
        "pieces": pieces,
    }
    mg.EXPANDED.add("pieces")
    mg.write(args.out / "tokenization_gemma3.json", out)
    print(f"{len(cases)} cases, {len(pieces)} pieces", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
