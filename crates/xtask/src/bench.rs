//! `cargo xtask bench`: tokscope's CPU speed next to llama.cpp's on the default model;
//! `cargo xtask bench web`: the same in headless Chromium, tokscope's page next to wllama.

use crate::serve::{self, Roots};
use crate::util::{self, banner, cmd, run};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::PathBuf;

/// Thread counts compared (the project's machine has 2 cores).
const THREADS: [u32; 2] = [1, 2];
/// The llama.cpp side, written with llama-cpp-python.
const LLAMACPP_SCRIPT: &str = "tests/bench/llamacpp_bench.py";

/// The Debian package and binary of the browser (never a downloaded one).
const CHROMIUM: &str = "chromium";

/// The numbers a bench run reports; any may be missing.
#[derive(Debug, Default, PartialEq)]
pub struct Speed {
    pub decode_tok_s: Option<f64>,
    pub prefill_tok_s: Option<f64>,
    pub peak_rss_mb: Option<f64>,
}

/// Builds the CLI, runs both benchmarks per thread count and prints a comparison table.
pub fn all() -> Result<()> {
    crate::setup::model()?;
    crate::artifacts::cli()?;
    let model = crate::setup::model_path();
    let bin = util::target_dir().join("release/tokscope");
    let llamacpp = llamacpp_available();
    let mut rows = Vec::new();
    for threads in THREADS {
        let t = threads.to_string();
        banner(&format!("bench: tokscope, {threads} thread(s)"));
        let ours = measure(
            cmd(&bin)
                .args(["bench", "--threads", &t, "--model"])
                .arg(&model),
        )?;
        let theirs = if llamacpp {
            banner(&format!("bench: llama.cpp, {threads} thread(s)"));
            let mut c = cmd("python3");
            c.arg(LLAMACPP_SCRIPT)
                .args(["--threads", &t, "--model"])
                .arg(&model);
            Some(measure(&mut c)?)
        } else {
            None
        };
        rows.push((threads, ours, theirs));
    }
    println!("\n{}", table(&rows));
    Ok(())
}

/// The browser benchmark's own npm project: bench.mjs, the wllama page and their packages.
fn web_bench_dir() -> PathBuf {
    util::root().join("tests").join("bench").join("web")
}

/// What the wllama side is served from: its page and node_modules (wllama's wasm comes from
/// its npm package, nothing from a CDN), and the models under `/models/`.
fn wllama_roots() -> Roots {
    Roots {
        site: web_bench_dir(),
        models: util::models_dir(),
    }
}

/// Builds the page, serves it and the wllama page (both with COOP/COEP, so wasm threads work)
/// and runs tests/bench/web/bench.mjs, which prints the table and writes target/bench/web.json.
pub fn web() -> Result<()> {
    crate::setup::all()?;
    crate::artifacts::wasm()?;
    crate::artifacts::web()?;
    crate::setup::npm_install(&web_bench_dir())?;
    crate::setup::apt_package(CHROMIUM, CHROMIUM)?;
    let chromium =
        util::find_on_path(CHROMIUM).context("chromium is not on PATH after installing it")?;
    let page = serve::start(0, Roots::project())?;
    let wllama = serve::start(0, wllama_roots())?;
    banner("bench: tokscope's page and wllama in headless Chromium");
    run(cmd("node")
        .arg(web_bench_dir().join("bench.mjs"))
        .env("BENCH_TOKSCOPE_URL", format!("http://{page}/"))
        .env("BENCH_WLLAMA_URL", format!("http://{wllama}/"))
        .env("BENCH_CHROMIUM", &chromium)
        .env(
            "BENCH_OUT",
            util::target_dir().join("bench").join("web.json"),
        )
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

/// Whether the llama.cpp side can run; says why not otherwise (it is optional).
fn llamacpp_available() -> bool {
    if !util::root().join(LLAMACPP_SCRIPT).is_file() {
        println!("xtask: {LLAMACPP_SCRIPT} is missing; the llama.cpp columns stay empty");
        return false;
    }
    if util::output(cmd("python3").args(["-c", "import llama_cpp, numpy"])).is_none() {
        println!(
            "xtask: llama-cpp-python is not installed (pip install llama-cpp-python==0.3.36 numpy); \
             the llama.cpp columns stay empty"
        );
        return false;
    }
    true
}

/// Runs one benchmark command, echoes its output and parses the JSON object it prints.
fn measure(c: &mut std::process::Command) -> Result<Speed> {
    let out = c.output().context("could not start the benchmark")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("benchmark failed ({})", out.status);
    }
    Ok(parse_speed(&stdout))
}

/// Reads the last line of the output that parses as a JSON object.
pub fn parse_speed(stdout: &str) -> Speed {
    let Some(json) = stdout.lines().rev().find_map(|l| {
        serde_json::from_str::<Value>(l.trim())
            .ok()
            .filter(Value::is_object)
    }) else {
        return Speed::default();
    };
    let num = |k: &str| json.get(k).and_then(Value::as_f64);
    Speed {
        decode_tok_s: num("decode_tok_s"),
        prefill_tok_s: num("prefill_tok_s"),
        peak_rss_mb: num("peak_rss_mb"),
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

/// The comparison as a fixed-width text table, one row per thread count (speeds in tokens/s).
pub fn table(rows: &[(u32, Speed, Option<Speed>)]) -> String {
    let mut s = format!(
        "{:>7} | {:>14} {:>14} | {:>14} {:>14} | {:>12}\n",
        "threads", "decode ours", "decode llama", "prefill ours", "prefill llama", "RSS MB ours"
    );
    s.push_str(&"-".repeat(s.len() - 1));
    s.push('\n');
    for (threads, ours, theirs) in rows {
        let theirs = theirs.as_ref();
        s.push_str(&format!(
            "{threads:>7} | {:>14} {:>14} | {:>14} {:>14} | {:>12}\n",
            cell(ours.decode_tok_s),
            cell(theirs.and_then(|t| t.decode_tok_s)),
            cell(ours.prefill_tok_s),
            cell(theirs.and_then(|t| t.prefill_tok_s)),
            cell(ours.peak_rss_mb),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_json_line_among_log_lines() {
        let out =
            "loading model\n{\"decode_tok_s\": 51.5, \"prefill_tok_s\": 210, \"threads\": 1}\n";
        let speed = parse_speed(out);
        assert_eq!(speed.decode_tok_s, Some(51.5));
        assert_eq!(speed.prefill_tok_s, Some(210.0));
        assert_eq!(speed.peak_rss_mb, None);
    }

    #[test]
    fn the_wllama_page_is_served_at_the_path_bench_mjs_opens() {
        let roots = wllama_roots();
        assert_eq!(
            serve::resolve("/wllama.html", &roots),
            Some(web_bench_dir().join("wllama.html"))
        );
        let model = format!("{}{}", serve::MODELS_PREFIX, crate::setup::MODEL_FILE);
        assert_eq!(
            serve::resolve(&model, &roots).is_some(),
            crate::setup::model_path().is_file()
        );
    }

    #[test]
    fn no_json_means_no_numbers() {
        assert_eq!(parse_speed("error: no model\n[1, 2]\n"), Speed::default());
    }

    #[test]
    fn table_shows_missing_values_as_dashes() {
        let ours = Speed {
            decode_tok_s: Some(40.0),
            prefill_tok_s: None,
            peak_rss_mb: Some(180.25),
        };
        let t = table(&[(2, ours, None)]);
        let row = t.lines().nth(2).unwrap();
        assert!(row.contains("40.0"), "{t}");
        assert!(row.contains("180.2") || row.contains("180.3"), "{t}");
        assert_eq!(
            row.matches(" - ").count() + usize::from(row.ends_with(" -")),
            3,
            "{t}"
        );
    }
}
