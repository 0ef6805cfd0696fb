//! Sizes from a file or a flag that no machine could honour: each is a clear error within
//! seconds, in bounded memory (the child's peak resident set, from `wait4`), on both backends;
//! and a model claiming an absurd context length still runs, with a cache of a sane size.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::model;

/// Most memory a refused request may take (the process, weights mapped or uploaded included).
const MAX_RSS_BYTES: u64 = 1536 << 20;
/// How soon a refused request must end.
const MAX_SECONDS: f64 = 5.0;

/// What a run of the binary left: exit code, stderr, wall time and peak resident set in bytes.
struct Run {
    code: Option<i32>,
    stderr: String,
    seconds: f64,
    peak_rss: u64,
}

/// Runs `tokscope args` and reaps it with `wait4`, which reports its peak resident set.
// `wait4` reaps the child, so `Child::wait` is never called.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        pipe.read_to_string(&mut s).ok();
        s
    });
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    loop {
        // SAFETY: `pid` is this process's child, not yet reaped (`Child::wait` is never called).
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4 failed");
        if reaped == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().ok();
            panic!("tokscope {args:?} still runs after 120 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stderr: reader.join().unwrap(),
        seconds: start.elapsed().as_secs_f64(),
        // Linux reports kilobytes.
        peak_rss: usage.ru_maxrss as u64 * 1024,
    }
}

/// Asserts a clear refusal: exit status 1 with an error line, in time and memory.
fn assert_refused(r: &Run, what: &str) {
    assert_eq!(
        r.code,
        Some(1),
        "{what}: not a clean error exit: {}",
        r.stderr
    );
    // The last line: a GPU driver may write notes of its own before it.
    let last = r.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("tokscope: error: "),
        "{what}: {}",
        r.stderr
    );
    assert!(r.seconds < MAX_SECONDS, "{what}: took {:.1} s", r.seconds);
    assert!(
        r.peak_rss < MAX_RSS_BYTES,
        "{what}: peak RSS {} MiB",
        r.peak_rss >> 20
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokscope-limits-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generate(model: &Path, backend: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--backend",
        backend,
        "--prompt",
        "The sky is",
        "--max-tokens",
        "2",
        "--format",
        "jsonl",
    ];
    args.extend(extra);
    run(&args)
}

#[test]
fn an_absurd_context_is_refused_on_both_backends() {
    let m = model();
    for backend in ["cpu", "gpu"] {
        let r = generate(&m, backend, &["--ctx", "100000000"]);
        assert_refused(&r, backend);
        assert!(
            r.stderr.contains("100000000") && r.stderr.contains("limit"),
            "{backend}: the error names the request and the limit: {}",
            r.stderr
        );
    }
}

#[test]
fn a_header_past_the_cap_is_refused_without_reading_it() {
    // One u8 array of 300 M elements that the file really holds (sparse: no disk is written).
    let dir = temp_dir("header");
    let path = dir.join("bomb.gguf");
    let count = 300_000_000u64;
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(0u64.to_le_bytes());
    f.extend(1u64.to_le_bytes());
    f.extend(1u64.to_le_bytes());
    f.push(b'k');
    f.extend(9u32.to_le_bytes()); // array
    f.extend(0u32.to_le_bytes()); // of u8
    f.extend(count.to_le_bytes());
    std::fs::write(&path, &f).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(f.len() as u64 + count).unwrap();
    drop(file);
    let generate = generate(&path, "cpu", &[]);
    let tokenize = run(&[
        "tokenize",
        "--model",
        path.to_str().unwrap(),
        "--text",
        "hi",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    for (what, r) in [("generate", generate), ("tokenize", tokenize)] {
        assert_refused(&r, what);
        assert!(r.stderr.contains("header"), "{what}: {}", r.stderr);
        // Nothing near the array's size was read into memory.
        assert!(
            r.peak_rss < 200 << 20,
            "{what}: peak RSS {} MiB",
            r.peak_rss >> 20
        );
    }
}

#[test]
fn a_model_claiming_an_absurd_context_length_runs_with_a_bounded_cache() {
    // The default model with llama.context_length (a u32) patched to 4.29 billion positions.
    let mut bytes = std::fs::read(model()).unwrap();
    let key = b"llama.context_length";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the default model has llama.context_length")
        + key.len();
    assert_eq!(bytes[at..at + 4], 4u32.to_le_bytes(), "a u32 value");
    bytes[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let dir = temp_dir("context");
    let path = dir.join("long.gguf");
    std::fs::write(&path, &bytes).unwrap();
    drop(bytes);
    let runs = ["cpu", "gpu"].map(|backend| (backend, generate(&path, backend, &[])));
    std::fs::remove_dir_all(&dir).ok();
    for (backend, r) in runs {
        assert_eq!(r.code, Some(0), "{backend}: {}", r.stderr);
        assert!(
            r.peak_rss < MAX_RSS_BYTES,
            "{backend}: peak RSS {} MiB",
            r.peak_rss >> 20
        );
    }
}
