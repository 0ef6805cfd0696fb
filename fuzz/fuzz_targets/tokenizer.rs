//! A tokenizer from a file's metadata: `Tokenizer::from_gguf` over whatever `tokenizer.ggml.*`
//! says; an accepted tokenizer then encodes and decodes text with its own control tokens in it.
//! Errors are fine; a panic, or an id outside the vocabulary, is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_gguf::Gguf;
use tokscope_tokenizer::Tokenizer;

/// Most ids decoded one by one per input, so a large vocabulary cannot make one input slow.
const MAX_DECODED: u32 = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::parse(data) else { return };
    let Ok(t) = Tokenizer::from_gguf(&g.metadata) else {
        return;
    };
    let n = t.vocab_size() as u32;
    for id in [t.bos_id(), t.eos_id()].into_iter().flatten() {
        assert!(id < n, "special id {id} outside a vocabulary of {n}");
    }
    assert_eq!(t.token_text(n), "", "an id past the vocabulary has no text");

    let mut text = String::from("Hello world! 3123  x\n\té 🙂 ");
    for id in 0..n.min(MAX_DECODED) {
        let piece = t.token_text(id);
        if t.is_control(id) && text.len() < 1024 {
            text.push_str(&piece);
            text.push_str(" a");
        }
        let _ = t.is_end_of_generation(id);
    }
    for parse_special in [false, true] {
        let Ok(ids) = t.encode(&text, parse_special) else {
            continue;
        };
        assert!(
            ids.iter().all(|&id| id < n),
            "{ids:?} for a vocabulary of {n}"
        );
        let mut decoder = t.decoder();
        let streamed: String =
            ids.iter().map(|&id| decoder.push(id)).collect::<String>() + &decoder.flush();
        assert_eq!(streamed, t.decode(&ids));
    }
    let all: Vec<u32> = (0..n.min(MAX_DECODED)).collect();
    std::hint::black_box(t.decode(&all));
});
