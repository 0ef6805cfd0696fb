//! `cargo xtask build`: the native CLI, the wasm bridge and the static web page (`web/dist`).

use crate::setup::{WASM_TARGET, wasm_bindgen_bin};
use crate::util::{self, banner, cmd, run};
use anyhow::Result;

/// Builds everything a user runs: the CLI in release and the static site.
pub fn all() -> Result<()> {
    cli()?;
    wasm()?;
    web()
}

/// `cargo build --release` of the `tokscope` binary.
pub fn cli() -> Result<()> {
    banner("build: tokscope CLI (release)");
    run(cmd("cargo").args(["build", "--release", "-p", "tokscope-cli"]))
}

/// Where [`cli`] puts the binary.
pub fn cli_path() -> std::path::PathBuf {
    let exe = format!("tokscope{}", std::env::consts::EXE_SUFFIX);
    util::target_dir().join("release").join(exe)
}

/// RUSTFLAGS of the wasm build: getrandom's browser backend (as in .cargo/config.toml, which an
/// explicit RUSTFLAGS replaces) and simd128, so the model's simd128 kernels are compiled in.
pub const WASM_RUSTFLAGS: &str = r#"--cfg getrandom_backend="wasm_js" -C target-feature=+simd128"#;

/// What the threaded build adds: atomics and a shared, imported memory (up to 4 GiB) whose
/// thread-local storage each Web Worker sets up (wasm-bindgen's threads support).
const THREADS_RUSTFLAGS: &str = "-C target-feature=+atomics,+bulk-memory,+mutable-globals \
     -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
     -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
     -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base";

/// Compiles crates/wasm for wasm32 (simd128) twice and generates each one's JS bindings: into
/// `web/pkg` the single-threaded build every page can run, into `web/pkg-mt` the threaded build
/// the worker loads on a cross-origin isolated page (crates/wasm/src/threads.rs).
pub fn wasm() -> Result<()> {
    banner("build: wasm bridge (release, simd128) + wasm-bindgen");
    let mut single = cmd("cargo");
    single.env("RUSTFLAGS", WASM_RUSTFLAGS);
    build_wasm(single, &util::target_dir(), "pkg", &[])?;

    banner("build: wasm bridge with threads (release, simd128, atomics) + wasm-bindgen");
    // Shared memory needs std rebuilt with atomics (`-Z build-std`, not yet stable): the pinned
    // stable compiler is asked for it with RUSTC_BOOTSTRAP rather than a moving nightly. Its own
    // target folder keeps the two builds' artifacts apart.
    let target_dir = util::target_dir().join("threads");
    let mut threaded = cmd("cargo");
    threaded
        .env("RUSTFLAGS", format!("{WASM_RUSTFLAGS} {THREADS_RUSTFLAGS}"))
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target_dir);
    build_wasm(
        threaded,
        &target_dir,
        "pkg-mt",
        &["-Z", "build-std=std,panic_abort"],
    )
}

/// Builds crates/wasm in release with `cargo` (its environment set) into `target_dir`, then runs
/// wasm-bindgen on it, writing the bindings to `web/<out>`.
fn build_wasm(
    mut cargo: std::process::Command,
    target_dir: &std::path::Path,
    out: &str,
    extra: &[&str],
) -> Result<()> {
    cargo.args([
        "build",
        "--release",
        "-p",
        "tokscope-wasm",
        "--target",
        WASM_TARGET,
    ]);
    run(cargo.args(extra))?;
    let wasm = target_dir.join(format!("{WASM_TARGET}/release/tokscope_wasm.wasm"));
    run(cmd(wasm_bindgen_bin())
        .arg(&wasm)
        .args(["--target", "web", "--out-dir"])
        .arg(util::web_dir().join(out)))
}

/// `npm run build` in web/, producing the static folder `web/dist`.
pub fn web() -> Result<()> {
    crate::setup::node()?;
    banner("build: web page (vite) -> web/dist");
    run(cmd("npm")
        .current_dir(util::web_dir())
        .args(["run", "build"]))
}
