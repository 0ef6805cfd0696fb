//! Small helpers shared by the subcommands: project paths, running commands, banners.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (two levels above this crate), so `cargo xtask` works from any directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask sits two levels below the repository root")
        .to_path_buf()
}

/// The web front end's folder.
pub fn web_dir() -> PathBuf {
    root().join("web")
}

/// The browser end-to-end tests' folder (its own small npm project).
pub fn e2e_dir() -> PathBuf {
    root().join("tests").join("e2e")
}

/// Where the default model and other GGUF files live.
pub fn models_dir() -> PathBuf {
    root().join("models")
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` when set, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// Scratch space for xtask (stamps, downloads); inside the target folder so it is never committed.
pub fn xtask_dir() -> PathBuf {
    target_dir().join("xtask")
}

/// Builds a command that runs in the repository root.
pub fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.current_dir(root());
    c
}

/// Runs a command with inherited stdio and fails with the command line when it does not succeed.
pub fn run(c: &mut Command) -> Result<()> {
    let line = describe(c);
    let status = c
        .status()
        .with_context(|| format!("could not start `{line}` (is it installed?)"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a command like [`run`], echoing its stdout as it comes, and returns that stdout.
pub fn run_tee(c: &mut Command) -> Result<String> {
    use std::io::{BufRead, BufReader};
    let line = describe(c);
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{line}` (is it installed?)"))?;
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        for l in BufReader::new(stdout).lines() {
            let l = l.with_context(|| format!("reading the output of `{line}`"))?;
            println!("{l}");
            out.push_str(&l);
            out.push('\n');
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(out)
}

/// Runs a command and returns its stdout, or `None` when it cannot start or fails.
pub fn output(c: &mut Command) -> Option<String> {
    let out = c.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `program args...` as a person would type it, for messages.
fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The full path of an executable found on PATH, like `which`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Prints a stage banner so long logs show where each stage starts.
pub fn banner(title: &str) {
    println!("\n==== xtask: {title} ====");
}
