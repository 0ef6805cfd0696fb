//! `tokscope compare`: two conditions per step (two models with one vocabulary, or one model under two
//! prompts), both top-N, KL both ways, JS and TV, decoding from the distribution `--mode` picks.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use tokscope_session::{CompareMode, CompareOptions, Prompt, Session, compare};

use super::{Format, GenerateArgs, Output, modes, open_session};

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

#[derive(Args)]
pub struct CompareArgs {
    /// Condition a: --model, --prompt, --chat, --system and the sampling flags
    #[command(flatten)]
    generate: GenerateArgs,
    /// Condition b's model [default: --model]
    #[arg(long)]
    model_b: Option<PathBuf>,
    /// Condition b's prompt (with --chat-b, the user message) [default: --prompt]
    #[arg(long)]
    prompt_b: Option<String>,
    /// Render condition b's prompt through the chat template
    #[arg(long)]
    chat_b: bool,
    /// Condition b's system prompt (implies --chat-b)
    #[arg(long)]
    system_b: Option<String>,
    /// A third condition's model, for --mode arith [default: --model]
    #[arg(long)]
    model_c: Option<PathBuf>,
    /// A third condition's prompt, for --mode arith (its presence adds the condition)
    #[arg(long)]
    prompt_c: Option<String>,
    /// Render the third condition's prompt through the chat template
    #[arg(long)]
    chat_c: bool,
    #[arg(long, value_enum, default_value_t = ModeChoice::A)]
    mode: ModeChoice,
    /// ed: the disalignment strength (default 0.5); cd / uscd: the plausibility α (default 0.1)
    #[arg(long, value_parser = super::ranges::finite)]
    alpha: Option<f64>,
    /// uscd: entropy of a, in nats, from which the contrast applies
    #[arg(long, default_value_t = 1.0, value_parser = super::ranges::finite)]
    threshold: f64,
    /// arith: one weight per condition, comma separated [default: 1,-1 (or 1,1,-1)]
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = super::ranges::finite)]
    weights: Option<Vec<f64>>,
}

fn condition_prompt(text: &str, chat: bool, system: Option<String>) -> Prompt {
    if chat || system.is_some() {
        Prompt::Chat {
            system,
            user: text.to_string(),
        }
    } else {
        Prompt::Raw(text.to_string())
    }
}

pub fn run(a: CompareArgs) -> Result<()> {
    let g = &a.generate;
    let m = &g.model;
    let mut sa = open_session(m)?;
    let b_file = modes::open_file(a.model_b.as_deref().or(m.model.as_deref()))?;
    let mut sb = modes::cpu_session(b_file, m)?;
    let mut prompts = vec![
        modes::prompt(g),
        condition_prompt(
            a.prompt_b.as_deref().unwrap_or(&g.prompt),
            a.chat_b,
            a.system_b.clone(),
        ),
    ];
    let mut sc: Option<Session> = None;
    if let Some(pc) = &a.prompt_c {
        if a.mode != ModeChoice::Arith {
            bail!("a third condition (--prompt-c) needs --mode arith");
        }
        let c_file = modes::open_file(a.model_c.as_deref().or(m.model.as_deref()))?;
        sc = Some(modes::cpu_session(c_file, m)?);
        prompts.push(condition_prompt(pc, a.chat_c, None));
    }
    let mode = match a.mode {
        ModeChoice::A => CompareMode::A,
        ModeChoice::B => CompareMode::B,
        ModeChoice::Ed => CompareMode::Ed {
            alpha: a.alpha.unwrap_or(0.5),
        },
        ModeChoice::Cd => CompareMode::Cd {
            alpha: a.alpha.unwrap_or(0.1),
        },
        ModeChoice::Uscd => CompareMode::Uscd {
            alpha: a.alpha.unwrap_or(0.1),
            threshold: a.threshold,
        },
        ModeChoice::Arith => CompareMode::Arith {
            weights: a.weights.clone().unwrap_or_else(|| {
                if prompts.len() == 3 {
                    vec![1.0, 1.0, -1.0]
                } else {
                    vec![1.0, -1.0]
                }
            }),
        },
    };
    let opts = CompareOptions {
        prompts,
        mode,
        max_tokens: g.max_tokens,
        sampling: modes::sampling(g),
        seed: g.seed,
        top_n: g.top_n,
        ignore_eos: g.ignore_eos,
    };
    let mut output = Output::new(g.format);
    let mut sessions: Vec<&mut Session> = vec![&mut sa, &mut sb];
    if let Some(c) = sc.as_mut() {
        sessions.push(c);
    }
    let done = compare(&mut sessions, &opts, &mut |e| output.event(e))?;
    if g.format == Format::Text
        && let Some(c) = &done.compare
    {
        writeln!(
            std::io::stdout().lock(),
            "compare ({}): mean KL(a‖b) {:.4}, KL(b‖a) {:.4}, JS {:.4} nats, TV {:.4}; greedy tokens differ at {} steps",
            c.mode,
            c.mean_kl_ab,
            c.mean_kl_ba,
            c.mean_js,
            c.mean_tv,
            c.argmax_disagreements
        )?;
    }
    Ok(())
}
