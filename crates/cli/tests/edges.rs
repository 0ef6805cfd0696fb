//! Edge inputs of the command line: out-of-range flags, no tokens at all, a full context, chat templates
//! that are hostile or missing, and a quiet GPU probe.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{model, tokscope};
use tokscope_gguf::{Gguf, GgufWriter, Value};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON lines a `--format jsonl` run printed.
fn events(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `generate` on the default model with `extra` flags, on the CPU with one thread unless `extra` says.
fn generate(extra: &[&str]) -> Output {
    let m = model();
    let mut args = vec![
        "generate",
        "--model",
        m.to_str().unwrap(),
        "--prompt",
        "Once upon a time",
        "--format",
        "jsonl",
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    tokscope(&args)
}

#[test]
fn out_of_range_numbers_are_usage_errors() {
    for (flag, value) in [
        ("--temperature", "-1"),
        ("--temperature", "inf"),
        ("--temperature", "NaN"),
        ("--top-p", "0"),
        ("--top-p", "1.5"),
        ("--min-p", "-0.1"),
        ("--min-p", "2"),
        ("--repetition-penalty", "0"),
        ("--repetition-penalty", "-1"),
        ("--top", "100000"),
        ("--top-k", "-1"),
        ("--max-tokens", "-1"),
        ("--threads", "0"),
        ("--ctx", "0"),
    ] {
        // `--flag=value`: a negative value would otherwise read as a flag of its own.
        let o = tokscope(&["generate", "--prompt", "x", &format!("{flag}={value}")]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("invalid value") && err.contains(flag),
            "{flag} {value}: {err}"
        );
        assert!(o.stdout.is_empty());
    }
    let m = model();
    let m = m.to_str().unwrap();
    for args in [
        &[
            "generate",
            "--model",
            m,
            "--prompt",
            "x",
            "--threads",
            "100000",
        ][..],
        &["score", "--model", m, "--text", "x", "--min-k", "0"],
        &["branch", "--model", m, "--prompt", "x", "--samples", "0"],
        &[
            "speculate",
            "--model",
            m,
            "--prompt",
            "x",
            "--max-ngram",
            "0",
        ],
        &["compare", "--model", m, "--prompt", "x", "--alpha=inf"],
        &["compare", "--model", m, "--prompt", "x", "--weights=1,NaN"],
    ] {
        let o = tokscope(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("invalid value"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn max_tokens_zero_prints_one_done_event_and_no_step() {
    let o = generate(&["--max-tokens", "0", "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let events = events(&o);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "done");
    assert_eq!(events[0]["tokens"], 0);
    assert_eq!(events[0]["stop"], "length");
}

/// A run that fills a 16-position context ends with `stop: "context"`, on `backend`.
fn fills_the_context(backend: &str) {
    let o = generate(&[
        "--ctx",
        "16",
        "--max-tokens",
        "64",
        "--ignore-eos",
        "--backend",
        backend,
    ]);
    assert!(o.status.success(), "{backend}: {}", stderr(&o));
    assert!(o.stderr.is_empty(), "{backend}: {}", stderr(&o));
    let events = events(&o);
    let (done, steps) = events.split_last().unwrap();
    assert_eq!(done["stop"], "context", "{backend}: {done}");
    let prompt = done["prompt_tokens"].as_u64().unwrap() as usize;
    assert_eq!(prompt + steps.len(), 16, "{backend}");
    assert_eq!(done["tokens"].as_u64().unwrap() as usize, steps.len());
}

#[test]
fn a_full_context_stops_with_context_on_the_cpu() {
    fills_the_context("cpu");
}

/// Runs on whatever adapter wgpu finds: lavapipe where the machine has no GPU (`cargo xtask test`
/// installs it).
#[test]
fn a_full_context_stops_with_context_on_the_gpu() {
    fills_the_context("gpu");
}

/// The default model written again with `tokenizer.chat_template` replaced (`None`: removed, as in
/// a base model), in a folder of this test process.
fn model_with_template(name: &str, template: Option<&str>) -> PathBuf {
    let bytes = std::fs::read(model()).unwrap();
    let gguf = Gguf::parse(&bytes).unwrap();
    let mut w = GgufWriter::new();
    w.version(gguf.version);
    for (key, value) in gguf.metadata.iter() {
        if key != "tokenizer.chat_template" {
            w.metadata(key, value.clone());
        }
    }
    if let Some(t) = template {
        w.metadata("tokenizer.chat_template", Value::String(t.into()));
    }
    for t in &gguf.tensors {
        w.tensor_raw(&t.name, &t.dims, t.ggml_type, gguf.tensor_data(t).to_vec());
    }
    let dir = std::env::temp_dir().join(format!("tokscope-cli-edges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.gguf"));
    std::fs::write(&path, w.to_bytes()).unwrap();
    path
}

/// `--chat` on a model whose template cannot be used fails fast saying why; raw prompts still work.
fn chat_is_refused_and_raw_works(name: &str, template: Option<&str>, why: &str) {
    let path = model_with_template(name, template);
    let p = path.to_str().unwrap();
    let base = [
        "generate",
        "--model",
        p,
        "--prompt",
        "Hi",
        "--max-tokens",
        "2",
    ];
    let start = Instant::now();
    let o = tokscope(&[&base[..], &["--chat", "--backend", "cpu", "--threads", "1"]].concat());
    let took = start.elapsed();
    let err = stderr(&o);
    assert!(!o.status.success(), "{name}: --chat ran");
    assert!(
        err.contains(why) && err.contains("raw prompts still work"),
        "{name}: {err}"
    );
    assert!(took < Duration::from_secs(5), "{name}: {took:?}");
    let o = tokscope(
        &[
            &base[..],
            &["--format", "jsonl", "--backend", "cpu", "--threads", "1"],
        ]
        .concat(),
    );
    std::fs::remove_file(&path).ok();
    std::fs::remove_dir(path.parent().unwrap()).ok();
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    assert_eq!(events(&o).len(), 3, "{name}: two steps and done");
}

#[test]
fn a_template_that_does_not_compile_disables_chat_only() {
    chat_is_refused_and_raw_works(
        "broken",
        Some("{% for m in messages %}"),
        "chat template is unusable: syntax error",
    );
}

#[test]
fn a_template_that_loops_forever_disables_chat_only() {
    chat_is_refused_and_raw_works(
        "loop-bomb",
        Some("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"),
        "chat template is unusable: ran out of fuel",
    );
}

#[test]
fn a_base_model_takes_raw_prompts_only() {
    chat_is_refused_and_raw_works("base", None, "no chat template");
}

/// `--backend auto` (the default) probes for a GPU; where the machine has Mesa's Vulkan drivers
/// and no desktop session, that probe must not print libwayland's complaints.
#[test]
fn the_gpu_probe_prints_nothing() {
    let m = model();
    let o = Command::new(env!("CARGO_BIN_EXE_tokscope"))
        .args(["generate", "--model", m.to_str().unwrap()])
        .args(["--prompt", "Hi", "--max-tokens", "1", "--threads", "1"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}
