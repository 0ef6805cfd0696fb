//! The command line's shape: the subcommands and the flags they share. Defaults come from the session's
//! and dist's own (`GenerateOptions::default`, `SamplingParams`), so the CLI and the page agree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tokscope_dist::SamplingParams;
use tokscope_session::{
    CompareMode, DEFAULT_GAMMA, GenerateOptions, MAX_GAMMA, ModeName, ScoreOptions,
};

use crate::ranges;

/// See what a language model is deciding, token by token.
#[derive(Parser)]
#[command(name = "tokscope", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate text and show every step's distribution.
    Generate(GenerateArgs),
    /// Score a given text under the model (teacher forcing), token by token.
    Score(ScoreArgs),
    /// Print the token ids of a text as a JSON array.
    Tokenize(TokenizeArgs),
    /// Measure prefill and decode speed; prints one JSON object.
    Bench(BenchArgs),
    /// Speculative decoding: a drafter proposes, the model verifies (acceptance per drafted token).
    Speculate(SpeculateArgs),
    /// Two conditions side by side (models or prompts): divergences, and decoding by logit arithmetic.
    Compare(CompareArgs),
    /// Sample M continuations of the prompt plus a token prefix (branch from any step of a run).
    Branch(BranchArgs),
    /// Requantize a model to one of llama.cpp's file types (its per-tensor rules) and write it.
    Quantize(crate::quantize::QuantizeArgs),
}

#[derive(Args)]
pub struct ModelArgs {
    /// GGUF model file [default: the model `cargo xtask setup` placed in models/]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Compute backend: auto takes a hardware GPU when there is one, else the CPU
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// CPU threads [default: all cores]
    #[arg(long, value_parser = ranges::threads)]
    pub threads: Option<usize>,
    /// Context size in tokens, at most the model's context length [default: that on the CPU,
    /// whose cache grows; a shorter one on the GPU, whose cache is allocated whole]
    #[arg(long, value_parser = ranges::at_least_one)]
    pub ctx: Option<usize>,
    /// CPU arithmetic: f32 activations (llama.cpp's f32 results) or 8-bit activations (faster, noisier)
    #[arg(long, value_enum, default_value_t = PrecisionChoice::Exact)]
    pub precision: PrecisionChoice,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PrecisionChoice {
    Exact,
    Q8,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BackendChoice {
    Auto,
    Cpu,
    Gpu,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Jsonl,
    Text,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt (with --chat, the user message)
    #[arg(long)]
    pub prompt: String,
    /// Render the prompt through the model's chat template
    #[arg(long)]
    pub chat: bool,
    /// System prompt for --chat [default: the template's own]
    #[arg(long, requires = "chat")]
    pub system: Option<String>,
    #[arg(long, default_value_t = GenerateOptions::default().max_tokens)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub sampling: SamplingParams,
    #[arg(long, default_value_t = GenerateOptions::default().seed)]
    pub seed: u64,
    /// Alternatives listed per step
    #[arg(long = "top", default_value_t = GenerateOptions::default().top_n, value_parser = ranges::top_n)]
    pub top_n: usize,
    /// Keep generating past end-of-generation tokens
    #[arg(long)]
    pub ignore_eos: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Context before the scored text (may be empty)
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Render the prompt through the chat template
    #[arg(long)]
    pub chat: bool,
    /// The text to score
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    pub text: Option<String>,
    /// The token ids to score, comma separated
    #[arg(long, value_delimiter = ',')]
    pub ids: Option<Vec<u32>>,
    /// Alternatives listed per step
    #[arg(long = "top", default_value_t = GenerateOptions::default().top_n, value_parser = ranges::top_n)]
    pub top_n: usize,
    /// Fraction of lowest-scoring tokens for Min-K% and Min-K%++
    #[arg(long, default_value_t = ScoreOptions::DEFAULT_K, value_parser = ranges::fraction)]
    pub min_k: f64,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
}

#[derive(Args)]
pub struct TokenizeArgs {
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long)]
    pub text: String,
    /// Parse control tokens written in the text (e.g. <|im_start|>) as single tokens
    #[arg(long)]
    pub special: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokens to decode
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Prompt text for the prefill measurement [default: tests/bench/prompt.txt's text]
    #[arg(long)]
    pub prompt: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrafterChoice {
    /// A second GGUF model with the same vocabulary (--draft-model)
    Model,
    /// Prompt lookup: continue the longest earlier n-gram match
    Ngram,
    /// The target's first --exit-layer layers + final norm + LM head
    EarlyExit,
    /// ADED tri-gram counts of the text so far
    Trigram,
}

#[derive(Args)]
pub struct SpeculateArgs {
    #[command(flatten)]
    pub generate: GenerateArgs,
    /// Draft model file (same vocabulary as --model, checked token for token); implies --drafter model
    #[arg(long)]
    pub draft_model: Option<PathBuf>,
    /// Where drafts come from [default: model with --draft-model, else ngram]
    #[arg(long, value_enum)]
    pub drafter: Option<DrafterChoice>,
    /// Drafted tokens per target call (1..=16)
    #[arg(long, default_value_t = DEFAULT_GAMMA as u16, value_parser = clap::value_parser!(u16).range(1..=MAX_GAMMA as i64))]
    pub gamma: u16,
    /// Layers the early-exit drafter keeps [default: a quarter of the model's, at least 1]
    #[arg(long, value_parser = ranges::at_least_one)]
    pub exit_layer: Option<usize>,
    /// Longest n-gram prompt lookup tries
    #[arg(long, default_value_t = tokscope_dist::DEFAULT_MAX_NGRAM, value_parser = ranges::at_least_one)]
    pub max_ngram: usize,
    /// Draft sequences per round, verified with K-SEQ (1..=16; 1 is single-draft speculation; above 1 needs
    /// --drafter model or early-exit)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub drafts: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeChoice {
    /// Decode from condition a
    A,
    /// Decode from condition b
    B,
    /// Emulated disalignment: (1+α) z_a − α z_b (a = base, b = aligned)
    Ed,
    /// Contrastive decoding: ln p_a − ln p_b inside a's plausible head (α · max p_a)
    Cd,
    /// Contrastive decoding only where a's entropy reaches --threshold nats, else a
    Uscd,
    /// Σ w_i z_i over the conditions (--weights; RAST delta: 1,1,-1 over large, small tuned, small base)
    Arith,
}

impl From<ModeChoice> for ModeName {
    fn from(m: ModeChoice) -> Self {
        match m {
            ModeChoice::A => ModeName::A,
            ModeChoice::B => ModeName::B,
            ModeChoice::Ed => ModeName::Ed,
            ModeChoice::Cd => ModeName::Cd,
            ModeChoice::Uscd => ModeName::Uscd,
            ModeChoice::Arith => ModeName::Arith,
        }
    }
}

#[derive(Args)]
pub struct CompareArgs {
    /// Condition a: --model, --prompt, --chat, --system and the sampling flags
    #[command(flatten)]
    pub generate: GenerateArgs,
    /// Condition b's model [default: --model]
    #[arg(long)]
    pub model_b: Option<PathBuf>,
    /// Condition b's prompt (with --chat-b, the user message) [default: --prompt]
    #[arg(long)]
    pub prompt_b: Option<String>,
    /// Render condition b's prompt through the chat template
    #[arg(long)]
    pub chat_b: bool,
    /// Condition b's system prompt (implies --chat-b)
    #[arg(long)]
    pub system_b: Option<String>,
    /// A third condition's model, for --mode arith [default: --model]
    #[arg(long)]
    pub model_c: Option<PathBuf>,
    /// A third condition's prompt, for --mode arith (its presence adds the condition)
    #[arg(long)]
    pub prompt_c: Option<String>,
    /// Render the third condition's prompt through the chat template
    #[arg(long)]
    pub chat_c: bool,
    #[arg(long, value_enum, default_value_t = ModeChoice::A)]
    pub mode: ModeChoice,
    /// ed: the disalignment strength; cd / uscd: the plausibility α [default: the mode's, as in
    /// docs/metrics.md §6]
    #[arg(long, value_parser = ranges::finite)]
    pub alpha: Option<f64>,
    /// uscd: entropy of a, in nats, from which the contrast applies
    #[arg(long, default_value_t = CompareMode::USCD_THRESHOLD, value_parser = ranges::finite)]
    pub threshold: f64,
    /// arith: one weight per condition, comma separated [default: 1,-1 (or 1,1,-1)]
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = ranges::finite)]
    pub weights: Option<Vec<f64>>,
}

#[derive(Args)]
pub struct BranchArgs {
    #[command(flatten)]
    pub generate: GenerateArgs,
    /// Token ids after the prompt to continue from, comma separated (e.g. a run's first k tokens, then an
    /// alternative from step k's top list)
    #[arg(long, value_delimiter = ',', conflicts_with = "prefix")]
    pub prefix_ids: Option<Vec<u32>>,
    /// Text after the prompt to continue from (tokenized without the prompt)
    #[arg(long)]
    pub prefix: Option<String>,
    /// Continuations to sample (sample i uses seed + i)
    #[arg(long, default_value_t = 4, value_parser = ranges::at_least_one)]
    pub samples: usize,
}
