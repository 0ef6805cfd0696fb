//! `tokscope`: the command line over the session crate (docs/architecture.md fixes its interface).

mod branch;
mod compare;
mod header;
mod model_path;
mod modes;
mod quantize;
mod ranges;
mod speculate;
mod text_output;

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokscope_dist::SamplingParams;
use tokscope_gpu::GpuContext;
use tokscope_model::ModelFile;
use tokscope_model::cpu::Precision;
use tokscope_session::{Event, GenerateOptions, Prompt, ScoreOptions, Session};

/// See what a language model is deciding, token by token.
#[derive(Parser)]
#[command(name = "tokscope", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text and show every step's distribution.
    Generate(GenerateArgs),
    /// Score a given text under the model (teacher forcing), token by token.
    Score(ScoreArgs),
    /// Print the token ids of a text as a JSON array.
    Tokenize(TokenizeArgs),
    /// Measure prefill and decode speed; prints one JSON object.
    Bench(BenchArgs),
    /// Speculative decoding: a drafter proposes, the model verifies (acceptance per drafted token).
    Speculate(speculate::SpeculateArgs),
    /// Two conditions side by side (models or prompts): divergences, and decoding by logit arithmetic.
    Compare(compare::CompareArgs),
    /// Sample M continuations of the prompt plus a token prefix (branch from any step of a run).
    Branch(branch::BranchArgs),
    /// Requantize a model to one of llama.cpp's file types (its per-tensor rules) and write it.
    Quantize(quantize::QuantizeArgs),
}

#[derive(Args)]
struct ModelArgs {
    /// GGUF model file [default: the model `cargo xtask setup` placed in models/]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Compute backend: auto takes a hardware GPU when there is one, else the CPU
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// CPU threads [default: all cores]
    #[arg(long, value_parser = ranges::threads)]
    threads: Option<usize>,
    /// Context size in tokens, at most the model's context length [default: that on the CPU,
    /// whose cache grows; a shorter one on the GPU, whose cache is allocated whole]
    #[arg(long, value_parser = ranges::at_least_one)]
    ctx: Option<usize>,
    /// CPU arithmetic: f32 activations (llama.cpp's f32 results) or 8-bit activations (faster, noisier)
    #[arg(long, value_enum, default_value_t = PrecisionChoice::Exact)]
    precision: PrecisionChoice,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionChoice {
    Exact,
    Q8,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendChoice {
    Auto,
    Cpu,
    Gpu,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Jsonl,
    Text,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt (with --chat, the user message)
    #[arg(long)]
    prompt: String,
    /// Render the prompt through the model's chat template
    #[arg(long)]
    chat: bool,
    /// System prompt for --chat [default: the template's own]
    #[arg(long, requires = "chat")]
    system: Option<String>,
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// 0 = greedy
    #[arg(long, default_value_t = 1.0, value_parser = ranges::temperature)]
    temperature: f32,
    /// 0 = off
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// 1 = off
    #[arg(long, default_value_t = 1.0, value_parser = ranges::top_p)]
    top_p: f32,
    /// 0 = off
    #[arg(long, default_value_t = 0.0, value_parser = ranges::min_p)]
    min_p: f32,
    /// 1 = off
    #[arg(long, default_value_t = 1.0, value_parser = ranges::repetition_penalty)]
    repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Alternatives listed per step
    #[arg(long = "top", default_value_t = 5, value_parser = ranges::top_n)]
    top_n: usize,
    /// Keep generating past end-of-generation tokens
    #[arg(long)]
    ignore_eos: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Context before the scored text (may be empty)
    #[arg(long, default_value = "")]
    prompt: String,
    /// Render the prompt through the chat template
    #[arg(long)]
    chat: bool,
    /// The text to score
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    text: Option<String>,
    /// The token ids to score, comma separated
    #[arg(long, value_delimiter = ',')]
    ids: Option<Vec<u32>>,
    /// Alternatives listed per step
    #[arg(long = "top", default_value_t = 5, value_parser = ranges::top_n)]
    top_n: usize,
    /// Fraction of lowest-scoring tokens for Min-K% and Min-K%++
    #[arg(long, default_value_t = 0.2, value_parser = ranges::fraction)]
    min_k: f64,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
}

#[derive(Args)]
struct TokenizeArgs {
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long)]
    text: String,
    /// Parse control tokens written in the text (e.g. <|im_start|>) as single tokens
    #[arg(long)]
    special: bool,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Tokens to decode
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Prompt text for the prefill measurement [default: tests/bench/prompt.txt's text]
    #[arg(long)]
    prompt: Option<String>,
}

/// The fixed benchmark prompt shared with tests/bench/llamacpp_bench.py.
const BENCH_PROMPT: &str = include_str!("../../../tests/bench/prompt.txt");

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(a) => generate(a),
        Command::Score(a) => score(a),
        Command::Tokenize(a) => tokenize(a),
        Command::Bench(a) => bench(a),
        Command::Speculate(a) => speculate::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Branch(a) => branch::run(a),
        Command::Quantize(a) => quantize::run(a),
    };
    if let Err(e) = result {
        eprintln!("tokscope: error: {e:#}");
        std::process::exit(1);
    }
}

fn open_session(args: &ModelArgs) -> Result<Session> {
    let path = model_path::resolve(args.model.as_deref())?;
    let file = ModelFile::open(&path).with_context(|| format!("loading {}", path.display()))?;
    // `auto` takes a hardware GPU only: a software adapter (lavapipe) is slower than the CPU backend.
    let gpu = match args.backend {
        BackendChoice::Gpu => Some(GpuContext::new_blocking()?),
        BackendChoice::Auto => GpuContext::new_blocking().ok().filter(|c| !c.is_software()),
        BackendChoice::Cpu => None,
    };
    if let Some(ctx) = gpu {
        return Ok(Session::gpu(&ctx, file, args.ctx)?);
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    let precision = match args.precision {
        PrecisionChoice::Exact => Precision::Exact,
        PrecisionChoice::Q8 => Precision::Q8,
    };
    Ok(Session::cpu(file, threads, args.ctx, precision)?)
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where a run's events go: JSON lines, or the readable text (coloured on a terminal), on stdout.
struct Output {
    format: Format,
    printer: text_output::Printer,
    out: std::io::StdoutLock<'static>,
}

impl Output {
    fn new(format: Format) -> Self {
        let stdout = std::io::stdout();
        let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            format,
            printer: text_output::Printer::new(color),
            out: stdout.lock(),
        }
    }

    /// Writes one event; a closed output (e.g. `| head`) stops the run quietly.
    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        match self.format {
            Format::Text => self.printer.event(&mut self.out, event),
            Format::Jsonl => {
                let line = serde_json::to_string(event).expect("events serialise");
                match writeln!(self.out, "{line}").and_then(|_| self.out.flush()) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            }
        }
    }
}

fn generate(a: GenerateArgs) -> Result<()> {
    let mut session = open_session(&a.model)?;
    let opts = GenerateOptions {
        prompt: if a.chat {
            Prompt::Chat {
                system: a.system.clone(),
                user: a.prompt.clone(),
            }
        } else {
            Prompt::Raw(a.prompt.clone())
        },
        max_tokens: a.max_tokens,
        sampling: SamplingParams {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            repetition_penalty: a.repetition_penalty,
            ..SamplingParams::default()
        },
        seed: a.seed,
        top_n: a.top_n,
        ignore_eos: a.ignore_eos,
    };
    let mut output = Output::new(a.format);
    session.generate(&opts, &mut |e| output.event(e))?;
    Ok(())
}

fn score(a: ScoreArgs) -> Result<()> {
    let mut session = open_session(&a.model)?;
    let text = match (&a.ids, &a.text) {
        (Some(ids), _) => ids.clone(),
        (None, Some(t)) => session.tokenizer.encode(t, false)?,
        (None, None) => bail!("give --text or --ids"),
    };
    let prompt = if a.chat {
        Prompt::Chat {
            system: None,
            user: a.prompt.clone(),
        }
    } else {
        Prompt::Raw(a.prompt.clone())
    };
    let opts = ScoreOptions {
        prompt,
        text,
        top_n: a.top_n,
        k: a.min_k,
    };
    let mut output = Output::new(a.format);
    session.score(&opts, &mut |e| output.event(e))?;
    Ok(())
}

fn tokenize(a: TokenizeArgs) -> Result<()> {
    let path = model_path::resolve(a.model.as_deref())?;
    let header = header::read(&path)?;
    let tokenizer = tokscope_tokenizer::Tokenizer::from_gguf(&header.metadata)?;
    let ids = tokenizer.encode(&a.text, a.special)?;
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    let t_load = Instant::now();
    let mut session = open_session(&a.model)?;
    let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
    let prompt = a.prompt.clone().unwrap_or_else(|| BENCH_PROMPT.to_string());
    let opts = GenerateOptions {
        prompt: Prompt::Raw(prompt),
        max_tokens: a.max_tokens,
        sampling: SamplingParams::greedy(),
        seed: 0,
        top_n: 20,
        ignore_eos: true,
    };
    // Run to the full length: an end-of-generation token must not cut the measurement short.
    let mut done = session.generate(&opts, &mut |_| ControlFlow::Continue(()))?;
    if done.tokens < a.max_tokens {
        eprintln!(
            "tokscope: note: generation stopped after {} tokens ({:?})",
            done.tokens, done.stop
        );
    }
    let prefill_tok_s = done.prompt_tokens as f64 / (done.prefill_ms / 1e3);
    done.text.clear();
    let report = serde_json::json!({
        "engine": "tokscope",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": session.backend().describe(),
        "threads": a.model.threads.unwrap_or_else(default_threads),
        "prompt_tokens": done.prompt_tokens,
        "prefill_tok_s": prefill_tok_s,
        "decode_tok_s": done.decode_tok_s,
        "tokens": done.tokens,
        "load_ms": load_ms,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{report}");
    Ok(())
}

/// Peak resident memory of this process (Linux: VmHWM), in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
