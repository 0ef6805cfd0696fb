//! `tokscope compare`: two conditions per step (two models with one vocabulary, or one model under two
//! prompts), both top-N, KL both ways, JS and TV, decoding from the distribution `--mode` picks.

use std::io::Write;

use anyhow::{Result, bail};
use tokscope_session::{CompareMode, CompareOptions, Prompt, Session, compare};

use crate::args::{CompareArgs, Format, ModeChoice};
use crate::modes::{self, open_session};
use crate::output::Output;

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
    let mut others = vec![condition_prompt(
        a.prompt_b.as_deref().unwrap_or(&g.prompt),
        a.chat_b,
        a.system_b.clone(),
    )];
    let mut sc: Option<Session> = None;
    if let Some(pc) = &a.prompt_c {
        if a.mode != ModeChoice::Arith {
            bail!("a third condition (--prompt-c) needs --mode arith");
        }
        let c_file = modes::open_file(a.model_c.as_deref().or(m.model.as_deref()))?;
        sc = Some(modes::cpu_session(c_file, m)?);
        others.push(condition_prompt(pc, a.chat_c, None));
    }
    let mode = CompareMode::from_name(
        a.mode.into(),
        a.alpha,
        Some(a.threshold),
        a.weights.clone(),
        others.len() + 1,
    );
    let opts = CompareOptions {
        generate: modes::generate_options(g),
        others,
        mode,
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
