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

/// RUSTFLAGS of the wasm build: getrandom's browser backend (as in .cargo/config.toml, which an
/// explicit RUSTFLAGS replaces) and simd128, so the model's simd128 kernels are compiled in.
pub const WASM_RUSTFLAGS: &str = r#"--cfg getrandom_backend="wasm_js" -C target-feature=+simd128"#;

/// Compiles crates/wasm for wasm32 (simd128) and generates its JS bindings into `web/pkg`.
pub fn wasm() -> Result<()> {
    banner("build: wasm bridge (release, simd128) + wasm-bindgen");
    run(cmd("cargo").env("RUSTFLAGS", WASM_RUSTFLAGS).args([
        "build",
        "--release",
        "-p",
        "tokscope-wasm",
        "--target",
        WASM_TARGET,
    ]))?;
    let wasm = util::target_dir().join(format!("{WASM_TARGET}/release/tokscope_wasm.wasm"));
    run(cmd(wasm_bindgen_bin())
        .arg(&wasm)
        .args(["--target", "web", "--out-dir"])
        .arg(util::web_dir().join("pkg")))
}

/// `npm run build` in web/, producing the static folder `web/dist`.
pub fn web() -> Result<()> {
    banner("build: web page (vite) -> web/dist");
    run(cmd("npm")
        .current_dir(util::web_dir())
        .args(["run", "build"]))
}
