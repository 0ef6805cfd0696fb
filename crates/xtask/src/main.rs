//! `cargo xtask <command>`: the project's setup, build, serve, test and bench in one place,
//! so a fresh machine needs only the Rust toolchain, Node, Python and apt.

mod artifacts;
mod bench;
mod catalog;
mod check;
mod formats;
mod fuzz;
mod serve;
mod setup;
mod util;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  setup               fetch the models, make the default model's golden formats (Q2_K ... IQ4_XS),
                      wasm target, wasm-bindgen-cli, npm packages
  build               build the CLI (release) and the static web page into web/dist
  serve [--port N]    setup + build, then serve web/dist and models/ on 127.0.0.1:N (default 8080)
  test [STAGE...]     every check CI runs, in order (or only the named stages):
                      setup fmt clippy cargo-test fuzz wasm-kernels wasm web-unit web-check web-build e2e
  fuzz [SECONDS] [TARGET...]
                      build the fuzz targets in fuzz/ (libFuzzer on stable Rust) and run each
                      (or only the named ones) for SECONDS (default 30, as in CI); see fuzz/README.md
  fuzz seeds          write the committed seed corpus fuzz/seeds again
  bench               tokscope's decode/prefill speed next to llama.cpp's
  bench web           the same in headless Chromium: tokscope's page next to wllama";

fn main() {
    if let Err(e) = run_command(std::env::args().skip(1).collect()) {
        eprintln!("\nxtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run_command(args: Vec<String>) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["setup"] => setup::all(),
        ["build"] => {
            setup::all()?;
            artifacts::all()
        }
        ["serve", rest @ ..] => {
            let port = parse_port(rest)?;
            setup::all()?;
            artifacts::wasm()?;
            artifacts::web()?;
            let addr = serve::start(port, serve::Roots::project())?;
            println!(
                "\ntokscope is at http://{addr}/  (default model: http://{addr}{}{})",
                serve::MODELS_PREFIX,
                setup::MODEL_FILE
            );
            println!("press Ctrl-C to stop");
            loop {
                std::thread::park();
            }
        }
        ["test", stages @ ..] => check::run_stages(stages),
        ["fuzz", "seeds"] => fuzz::seeds(),
        ["fuzz", rest @ ..] => fuzz::command(rest),
        ["bench"] => bench::all(),
        ["bench", "web"] => bench::web(),
        [] | ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown arguments {args:?}\n\n{USAGE}"),
    }
}

/// `--port N` or `--port=N`; 8080 when absent.
fn parse_port(rest: &[&str]) -> Result<u16> {
    match rest {
        [] => Ok(8080),
        ["--port", n] => n.parse().context("--port takes a number 0-65535"),
        [flag] if flag.starts_with("--port=") => flag["--port=".len()..]
            .parse()
            .context("--port takes a number 0-65535"),
        _ => bail!("serve takes only --port N\n\n{USAGE}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_port;

    #[test]
    fn port_flag_forms() {
        assert_eq!(parse_port(&[]).unwrap(), 8080);
        assert_eq!(parse_port(&["--port", "9000"]).unwrap(), 9000);
        assert_eq!(parse_port(&["--port=0"]).unwrap(), 0);
        assert!(parse_port(&["--port", "70000"]).is_err());
        assert!(parse_port(&["--verbose"]).is_err());
    }
}
