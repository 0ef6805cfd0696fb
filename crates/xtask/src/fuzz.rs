//! `cargo xtask fuzz [SECONDS] [TARGET...]`: builds the libFuzzer targets in fuzz/ on the stable
//! toolchain and runs each for SECONDS from its committed seeds, then prints per target the time,
//! executions and what was found (a crash, timeout or out-of-memory input is saved and fails the run).
//!
//! The build passes the instrumentation flags cargo-fuzz passes (coverage counters, comparison
//! tracing, debug assertions, overflow checks) plus AddressSanitizer, which is a nightly flag:
//! `RUSTC_BOOTSTRAP=1` lets the stable compiler take it, so CI needs no other toolchain and no
//! cargo-fuzz binary.

use crate::setup;
use crate::util::{self, banner, cmd, output, run};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// Seconds each target runs in CI (and by default).
pub const CI_SECONDS: u64 = 30;
/// An input that takes longer than this is reported as a hang.
const INPUT_TIMEOUT_S: u64 = 10;
/// Memory a run may reach (and the largest single allocation), in MB.
const RSS_LIMIT_MB: u64 = 2048;

/// A fuzz target: its binary name in fuzz/Cargo.toml and the largest input it is given.
struct Target {
    name: &'static str,
    max_len: usize,
}

const TARGETS: &[Target] = &[
    Target {
        name: "gguf_parse",
        max_len: 16 << 10,
    },
    Target {
        name: "gguf_prefix",
        max_len: 16 << 10,
    },
    Target {
        name: "model_config",
        max_len: 16 << 10,
    },
    Target {
        name: "tokenizer",
        max_len: 16 << 10,
    },
    Target {
        name: "chat_template",
        max_len: 4 << 10,
    },
    Target {
        name: "dequantize",
        max_len: 4 << 10,
    },
];

/// cargo-fuzz's instrumentation: SanitizerCoverage for libFuzzer, with its own cfg and checks on.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
    "-Zsanitizer=address",
];

/// The CI stage: every target for [`CI_SECONDS`].
pub fn ci() -> Result<()> {
    fuzz(CI_SECONDS, &TARGETS.iter().collect::<Vec<_>>())
}

/// `cargo xtask fuzz [SECONDS] [TARGET...]`.
pub fn command(args: &[&str]) -> Result<()> {
    let (seconds, chosen) = parse_args(args)?;
    fuzz(seconds, &chosen)
}

/// SECONDS (default [`CI_SECONDS`]) and the named targets (all when none is named).
fn parse_args(args: &[&str]) -> Result<(u64, Vec<&'static Target>)> {
    let (seconds, names) = match args.split_first() {
        Some((first, rest)) if first.bytes().all(|b| b.is_ascii_digit()) => (
            first
                .parse::<u64>()
                .ok()
                .filter(|&s| s > 0)
                .with_context(|| format!("SECONDS must be 1 or more, not {first}"))?,
            rest,
        ),
        _ => (CI_SECONDS, args),
    };
    if let Some(unknown) = names
        .iter()
        .find(|n| !TARGETS.iter().any(|t| t.name == **n))
    {
        let all: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        bail!(
            "unknown fuzz target `{unknown}`; targets: {}",
            all.join(", ")
        );
    }
    let chosen = TARGETS
        .iter()
        .filter(|t| names.is_empty() || names.contains(&t.name))
        .collect();
    Ok((seconds, chosen))
}

/// What one target's run did.
struct Outcome {
    name: &'static str,
    seconds: f64,
    executions: u64,
    corpus: u64,
    finding: Option<String>,
}

fn fuzz(seconds: u64, chosen: &[&Target]) -> Result<()> {
    let bin_dir = build()?;
    // One target per core: each still gets its SECONDS of wall time to itself.
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    banner(&format!(
        "fuzz: {} target(s), {seconds} s each, {jobs} at a time",
        chosen.len()
    ));
    let mut outcomes = Vec::new();
    for batch in chosen.chunks(jobs) {
        let results: Vec<Result<Outcome>> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|t| s.spawn(|| run_target(&bin_dir, t, seconds)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a fuzz runner thread panicked"))
                .collect()
        });
        for r in results {
            outcomes.push(r?);
        }
    }
    println!("\nxtask: fuzz results (libFuzzer, AddressSanitizer)");
    println!(
        "{:<14} {:>8} {:>12} {:>10} {:>8}  finding",
        "target", "seconds", "executions", "exec/s", "corpus"
    );
    for o in &outcomes {
        println!(
            "{:<14} {:>8.1} {:>12} {:>10.0} {:>8}  {}",
            o.name,
            o.seconds,
            o.executions,
            o.executions as f64 / o.seconds.max(1e-9),
            o.corpus,
            o.finding.as_deref().unwrap_or("none")
        );
    }
    let found: Vec<&Outcome> = outcomes.iter().filter(|o| o.finding.is_some()).collect();
    if !found.is_empty() {
        let names: Vec<&str> = found.iter().map(|o| o.name).collect();
        bail!(
            "fuzzing found inputs that fail in: {} (see the logs and artifacts above)",
            names.join(", ")
        );
    }
    Ok(())
}

fn fuzz_dir() -> PathBuf {
    util::root().join("fuzz")
}

/// Builds every target with libFuzzer's instrumentation; returns the folder of the binaries.
fn build() -> Result<PathBuf> {
    banner("fuzz: building the targets (libFuzzer, AddressSanitizer)");
    let (mut cargo, bin_dir) = instrumented_cargo(&["build", "--release", "--bins"])?;
    run(&mut cargo)?;
    Ok(bin_dir)
}

/// `cargo xtask fuzz seeds`: writes fuzz/seeds again with the `seeds` example, which also checks
/// that each seed gets past the first checks of its target.
pub fn seeds() -> Result<()> {
    setup::model()?;
    banner("fuzz: writing the seed corpus into fuzz/seeds");
    let (mut cargo, _) = instrumented_cargo(&["run", "--release", "--example", "seeds"])?;
    run(&mut cargo)
}

/// `cargo ARGS` for the fuzz crate with the instrumentation flags, in its own target folder, and
/// the folder its release binaries land in.
fn instrumented_cargo(args: &[&str]) -> Result<(std::process::Command, PathBuf)> {
    // libfuzzer-sys compiles libFuzzer itself, which is C++.
    setup::apt_package("c++", "g++")?;
    let host = output(cmd("rustc").arg("-vV"))
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        })
        .context("could not read the host triple from `rustc -vV`")?;
    let target_dir = util::target_dir().join("fuzz");
    let mut c = cmd("cargo");
    c.env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .args(args);
    let bin_dir = target_dir.join(&host).join("release");
    // An explicit --target keeps the flags off build scripts and proc macros.
    c.arg("--manifest-path")
        .arg(fuzz_dir().join("Cargo.toml"))
        .arg("--target")
        .arg(&host)
        .arg("--target-dir")
        .arg(&target_dir);
    Ok((c, bin_dir))
}

/// Runs one target for `seconds`; its output goes to a log file, whose tail is printed on a finding.
fn run_target(bin_dir: &Path, t: &Target, seconds: u64) -> Result<Outcome> {
    let seeds = fuzz_dir().join("seeds").join(t.name);
    if !seeds.is_dir() {
        bail!("fuzz target {} has no seeds at {}", t.name, seeds.display());
    }
    // New inputs go to the first folder (not committed); the seeds are only read.
    let corpus = fuzz_dir().join("corpus").join(t.name);
    let artifacts = fuzz_dir().join("artifacts").join(t.name);
    let logs = util::target_dir().join("fuzz").join("logs");
    for dir in [&corpus, &artifacts, &logs] {
        fs::create_dir_all(dir)?;
    }
    // A target's dictionary (tokens the mutator splices in), where it has one.
    let dict = fuzz_dir().join("dicts").join(format!("{}.dict", t.name));
    let log_path = logs.join(format!("{}.log", t.name));
    let log = fs::File::create(&log_path)?;
    let start = Instant::now();
    let mut fuzzer = cmd(bin_dir.join(t.name));
    if dict.is_file() {
        fuzzer.arg(format!("-dict={}", dict.display()));
    }
    let status = fuzzer
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_S}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-max_len={}", t.max_len))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus)
        .arg(&seeds)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .status()
        .with_context(|| format!("could not start the fuzz target {}", t.name))?;
    let elapsed = start.elapsed().as_secs_f64();
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let finding = (!status.success()).then(|| {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        println!(
            "\n---- fuzz target {} failed ({status}); last lines of {}:",
            t.name,
            log_path.display()
        );
        for line in tail.iter().rev() {
            println!("{line}");
        }
        describe_finding(&text, &artifacts, bin_dir, t.name)
    });
    Ok(Outcome {
        name: t.name,
        seconds: elapsed,
        executions: stat(&text, "number_of_executed_units"),
        corpus: fs::read_dir(&corpus).map_or(0, |d| d.count() as u64),
        finding,
    })
}

/// A number from libFuzzer's final statistics (`-print_final_stats=1`), 0 where it is missing.
fn stat(log: &str, name: &str) -> u64 {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The kind of failure libFuzzer reported and how to replay the input it saved.
fn describe_finding(log: &str, artifacts: &Path, bin_dir: &Path, name: &str) -> String {
    let saved = log
        .lines()
        .find_map(|l| l.split("Test unit written to ").nth(1))
        .map(str::trim);
    let kind = if log.contains("ERROR: libFuzzer: timeout") {
        "hang (input over the timeout)"
    } else if log.contains("out-of-memory") {
        "out of memory"
    } else if log.contains("ERROR: AddressSanitizer") {
        "memory error (AddressSanitizer)"
    } else if log.contains("panicked") {
        "panic"
    } else {
        "crash"
    };
    match saved {
        Some(path) => format!(
            "{kind}: {path} (replay: {} {path})",
            bin_dir.join(name).display()
        ),
        None => format!("{kind} (no input saved; see {})", artifacts.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(chosen: &[&Target]) -> Vec<&'static str> {
        chosen.iter().map(|t| t.name).collect()
    }

    #[test]
    fn seconds_then_targets() {
        let (s, all) = parse_args(&[]).unwrap();
        assert_eq!((s, all.len()), (CI_SECONDS, TARGETS.len()));
        let (s, some) = parse_args(&["600", "tokenizer", "dequantize"]).unwrap();
        assert_eq!((s, names(&some)), (600, vec!["tokenizer", "dequantize"]));
        let (s, one) = parse_args(&["chat_template"]).unwrap();
        assert_eq!((s, names(&one)), (CI_SECONDS, vec!["chat_template"]));
        assert!(parse_args(&["0"]).is_err());
        assert!(parse_args(&["10", "parse"]).is_err());
    }

    const TIMEOUT_LOG: &str = "#5	INITED cov: 6296 ft: 9810 corp: 6/2759b exec/s: 0 rss: 55Mb
==1== ERROR: libFuzzer: timeout after 12 seconds
artifact_prefix='fuzz/artifacts/chat_template/'; Test unit written to fuzz/artifacts/chat_template/timeout-ab12
stat::number_of_executed_units: 1234
stat::average_exec_per_sec:     41
";

    #[test]
    fn reads_final_stats() {
        assert_eq!(stat(TIMEOUT_LOG, "number_of_executed_units"), 1234);
        assert_eq!(stat(TIMEOUT_LOG, "average_exec_per_sec"), 41);
        assert_eq!(stat(TIMEOUT_LOG, "peak_rss_mb"), 0);
    }

    #[test]
    fn names_the_finding_and_its_input() {
        let bin = Path::new("/bins");
        let found = describe_finding(TIMEOUT_LOG, Path::new("a"), bin, "chat_template");
        assert!(found.starts_with("hang"), "{found}");
        assert!(found.contains("/bins/chat_template fuzz/artifacts/chat_template/timeout-ab12"));
        let panic =
            "thread '<unnamed>' panicked at src/x.rs:1:1\n==2== ERROR: libFuzzer: deadly signal";
        let found = describe_finding(panic, Path::new("arts"), bin, "gguf_parse");
        assert_eq!(found, "panic (no input saved; see arts)");
    }
}
