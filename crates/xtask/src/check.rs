//! `cargo xtask test`: every check CI runs, in order, stopping at the first failing stage.

use crate::serve::{self, Roots};
use crate::util::{self, banner, cmd, run};
use crate::{artifacts, fuzz, setup};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// The Debian package and binary that run the browser tests (never a downloaded browser).
const CHROMIUM: &str = "chromium";

type Stage = (&'static str, fn() -> Result<()>);

/// The stages, in the order they run: cheap and broad first, the browser last.
pub const STAGES: &[Stage] = &[
    ("setup", setup::all),
    ("fmt", fmt),
    ("clippy", clippy),
    ("cargo-test", cargo_test),
    ("fuzz", fuzz::ci),
    ("wasm-kernels", wasm_kernels),
    ("wasm", artifacts::wasm),
    ("web-unit", web_unit),
    ("web-check", web_check),
    ("web-build", artifacts::web),
    ("e2e", e2e),
];

/// Runs the named stages (all of them when `only` is empty) in order; the error names the stage that failed.
pub fn run_stages(only: &[&str]) -> Result<()> {
    if let Some(unknown) = only.iter().find(|n| !STAGES.iter().any(|(s, _)| s == *n)) {
        let names: Vec<&str> = STAGES.iter().map(|(s, _)| *s).collect();
        bail!(
            "unknown test stage `{unknown}`; stages: {}",
            names.join(", ")
        );
    }
    let chosen: Vec<&Stage> = STAGES
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .collect();
    let mut times = Vec::with_capacity(chosen.len());
    for (i, (name, stage)) in chosen.iter().enumerate() {
        banner(&format!("test stage {}/{}: {name}", i + 1, chosen.len()));
        let start = Instant::now();
        let result = stage();
        times.push((*name, start.elapsed(), result.is_ok()));
        println!("{}", stage_line(times.last().expect("just pushed")));
        if let Err(e) = result {
            print_summary(&times);
            return Err(e).with_context(|| format!("test stage `{name}` failed"));
        }
    }
    print_summary(&times);
    println!("\nxtask: {} passed, 0 failed (test stages)", chosen.len());
    Ok(())
}

/// One stage's outcome and wall time, e.g. `xtask: stage clippy      passed  61.2 s`.
fn stage_line((name, took, ok): &(&str, Duration, bool)) -> String {
    let outcome = if *ok { "passed" } else { "FAILED" };
    format!(
        "xtask: stage {name:<13} {outcome} {:>7.1} s",
        took.as_secs_f64()
    )
}

/// Every stage run so far, one line each, then the total: what a CI log is read for first.
fn print_summary(times: &[(&str, Duration, bool)]) {
    println!("\nxtask: test stages");
    for t in times {
        println!("{}", stage_line(t));
    }
    let total: Duration = times.iter().map(|(_, d, _)| *d).sum();
    println!("xtask: total {:.1} min", total.as_secs_f64() / 60.0);
}

fn fmt() -> Result<()> {
    run(cmd("cargo").args(["fmt", "--all", "--", "--check"]))
}

fn clippy() -> Result<()> {
    run(cmd("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The browser's build compiles other code (wgpu's WebGPU backend, the worker bridge).
    run(cmd("cargo")
        .env("RUSTFLAGS", artifacts::WASM_RUSTFLAGS)
        .args([
            "clippy",
            "-p",
            "tokscope-wasm",
            "--target",
            setup::WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ]))
}

fn cargo_test() -> Result<()> {
    // The GPU backend's tests run on lavapipe where the machine has no GPU.
    setup::lavapipe()?;
    run(cmd("cargo").args(["test", "--workspace"]))
}

/// Runs a WASI test binary under node (argv: the .wasm, then libtest's arguments).
const WASI_RUNNER: &str = r#"import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';
const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {}, returnOnExit: true });
const { instance } = await WebAssembly.instantiate(readFileSync(file), wasi.getImportObject());
process.exitCode = wasi.start(instance);
"#;

/// The test that fails unless the wasm kernel tests run the simd128 kernels
/// (crates/model/src/cpu/kernels/tests.rs); the stage fails unless it ran and passed.
const SIMD128_TEST: &str = "test cpu::kernels::tests::wasm_runs_the_simd128_kernels ... ok";

/// The model's kernel tests built for wasm32 with simd128 (the kernels the browser runs) and run
/// by node's WASI: the native `cargo test` only reaches the x86 and scalar kernels. A failing
/// test aborts the wasm run (panics cannot unwind there), so the first failure ends the stage.
fn wasm_kernels() -> Result<()> {
    setup::node()?;
    setup::rustup_target(setup::WASI_TARGET)?;
    let runner = util::target_dir().join("tools").join("wasi-run.mjs");
    std::fs::create_dir_all(runner.parent().expect("tools dir"))?;
    std::fs::write(&runner, WASI_RUNNER)?;
    let out = util::run_tee(
        cmd("cargo")
            .env(
                "CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS",
                "-C target-feature=+simd128",
            )
            .env(
                "CARGO_TARGET_WASM32_WASIP1_RUNNER",
                format!("node --no-warnings {}", runner.display()),
            )
            .args([
                "test",
                "-p",
                "tokscope-model",
                "--lib",
                "--target",
                setup::WASI_TARGET,
                "--",
                "cpu::kernels",
                "--nocapture",
                "--test-threads=1",
            ]),
    )?;
    if !out.lines().any(|l| l.trim() == SIMD128_TEST) {
        bail!(
            "the wasm kernel tests did not report `{SIMD128_TEST}`: the simd128 kernels were not \
             shown to run"
        );
    }
    Ok(())
}

fn web_unit() -> Result<()> {
    setup::node()?;
    run(cmd("npm").current_dir(util::web_dir()).args(["test"]))
}

fn web_check() -> Result<()> {
    setup::node()?;
    run(cmd("npm")
        .current_dir(util::web_dir())
        .args(["run", "check"]))
}

/// Serves web/dist with the xtask server on a free port and drives it with headless Chromium,
/// comparing the page's numbers with the release CLI's, built here so they are this tree's.
fn e2e() -> Result<()> {
    setup::node()?;
    artifacts::cli()?;
    setup::apt_package(CHROMIUM, CHROMIUM)?;
    let chromium =
        util::find_on_path(CHROMIUM).context("chromium is not on PATH after installing it")?;
    let addr = serve::start(0, Roots::project())?;
    let out_dir = util::target_dir().join("e2e");
    std::fs::create_dir_all(&out_dir)?;
    let status = cmd("node")
        .arg("--test")
        .arg(util::e2e_dir())
        .env("E2E_BASE_URL", format!("http://{addr}/"))
        .env("E2E_CHROMIUM", &chromium)
        .env("E2E_OUT", &out_dir)
        .env("E2E_CLI", artifacts::cli_path())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status()
        .context("could not start node")?;
    if !status.success() {
        bail!(
            "browser tests failed ({status}); screenshots are in {}",
            out_dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::stage_line;
    use std::time::Duration;

    #[test]
    fn a_stage_line_names_the_stage_its_outcome_and_time() {
        let line = stage_line(&("clippy", Duration::from_millis(61_240), true));
        assert_eq!(line, "xtask: stage clippy        passed    61.2 s");
        let line = stage_line(&("e2e", Duration::from_secs(600), false));
        assert_eq!(line, "xtask: stage e2e           FAILED   600.0 s");
    }
}
