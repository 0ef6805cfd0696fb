//! Chat templates: the input as Jinja source through `ChatTemplate::new`, and an accepted
//! template rendered over a fixed conversation, with and without the generation prompt. A
//! template may fail to compile or to render; it must not panic, and never run unbounded (the
//! fuzzer's per-input timeout and memory limit catch those).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokscope_tokenizer::{ChatTemplate, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = ChatTemplate::new(source) else {
        return;
    };
    let messages = [
        Message::new("system", "You are terse."),
        Message::new("user", "  Hi {{ there }} <|im_end|>\n"),
        Message::new("assistant", "Hello."),
        Message::new("user", "é🙂"),
    ];
    for add_generation_prompt in [false, true] {
        let _ = template.render(&messages, add_generation_prompt, "<s>", "</s>");
    }
    let _ = template.render(&[], true, "", "");
});
