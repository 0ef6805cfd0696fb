//! Multi-draft speculative decoding (metrics.md §5c; SpecTr, Sun et al. 2023): each round the draft model samples
//! K i.i.d. sequences of up to γ tokens, its KV cache rolled back between them, and the target verifies them token
//! by token along their tree: at each position K-SEQ picks among the candidates still in play (those whose earlier
//! tokens are the accepted ones), which are i.i.d. draws from the draft's distribution after the accepted prefix.
//! The first rejection ends the round with a token from K-SEQ's residual; when every position is accepted a bonus
//! token comes from the target. The output is distributed exactly as the target's, and K = 1 is plain speculative
//! sampling (ρ* = 1).
//!
//! The backends hold one sequence, so instead of one batched pass over the K sequences the target computes the
//! sequence of one candidate in play and computes again only when the accepted path leaves it; both counts are
//! reported (`target_calls` = rounds, `multi.target_forwards` = passes run).

use std::collections::HashMap;
use std::ops::ControlFlow;

use tokscope_dist::{self as dist, Outcome, Sampler, SamplingParams, Warped};
use tokscope_model::{Backend, LogitsFor};
use tokscope_tokenizer::Tokenizer;
use web_time::Instant;

use crate::error::{Result, SessionError, now};
use crate::event::{
    DoneEvent, Event, MultiDraftCandidate, MultiDraftCheck, MultiDraftSummary, SpecSource,
    SpecStep, SpecSummary, StopReason,
};
use crate::run::{GenerateOptions, Session};
use crate::speculate::{Drafter, MAX_GAMMA};
use crate::steps;

/// Largest K accepted: drafting costs about K·γ draft forward passes per round.
pub const MAX_DRAFTS: usize = 16;

/// Settings of a multi-draft run: the generate settings, γ (draft positions per round) and K (draft sequences).
#[derive(Clone, Debug, PartialEq)]
pub struct MultiDraftOptions {
    pub generate: GenerateOptions,
    pub gamma: usize,
    pub drafts: usize,
}

/// What the draft model's KV cache holds.
#[derive(Default)]
struct DraftCache {
    tokens: Vec<u32>,
    /// `tokens[..synced]` is known to equal the history's start (the history only grows during a run).
    synced: usize,
}

/// The draft model's logits after `history` followed by `prefix`, computing only what its cache lacks: a fresh
/// cache gets one batched pass, later tokens go one at a time as plain decoding feeds them, so a model drafting
/// for itself reproduces plain generation's distributions bit for bit.
async fn draft_logits(
    backend: &mut dyn Backend,
    cache: &mut DraftCache,
    history: &[u32],
    prefix: &[u32],
) -> Result<Vec<f32>> {
    let total = history.len() + prefix.len();
    let at = |i: usize| {
        if i < history.len() {
            history[i]
        } else {
            prefix[i - history.len()]
        }
    };
    let mut common = cache.synced.min(cache.tokens.len());
    while common < cache.tokens.len().min(total) && cache.tokens[common] == at(common) {
        common += 1;
    }
    let keep = common.min(total - 1).min(backend.cache_len());
    backend.truncate(keep);
    cache.tokens.truncate(keep);
    cache.synced = cache.synced.min(keep);
    let pending: Vec<u32> = (keep..total).map(at).collect();
    let logits = if keep == 0 {
        backend.forward_async(&pending, LogitsFor::Last).await?
    } else {
        let mut l = Vec::new();
        for &t in &pending {
            l = backend.forward_async(&[t], LogitsFor::Last).await?;
        }
        l
    };
    cache.tokens.extend_from_slice(&pending);
    cache.synced = history.len();
    Ok(logits)
}

/// The round's K draft sequences, each `room` tokens, and the draft distribution after each prefix drawn from.
/// Candidate 0 draws from `first_rng` (the stream plain sampling uses), the others from `rest_rng`.
struct Candidates {
    seqs: Vec<Vec<u32>>,
    q: HashMap<Vec<u32>, Warped>,
    /// Candidate tokens drawn.
    drawn: usize,
}

#[allow(clippy::too_many_arguments)]
async fn draft_candidates(
    backend: &mut dyn Backend,
    cache: &mut DraftCache,
    history: &mut Vec<u32>,
    k: usize,
    room: usize,
    params: &SamplingParams,
    first_rng: &mut Sampler,
    rest_rng: &mut Sampler,
) -> Result<Candidates> {
    let mut out = Candidates {
        seqs: Vec::with_capacity(k),
        q: HashMap::new(),
        drawn: 0,
    };
    let base = history.len();
    for c in 0..k {
        let mut seq = Vec::with_capacity(room);
        while seq.len() < room {
            if !out.q.contains_key(&seq) {
                let logits = draft_logits(backend, cache, &history[..], &seq).await?;
                // The repetition penalty sees the history and the prefix, as the target will.
                history.extend_from_slice(&seq);
                let q = dist::warp(&logits, params, history);
                history.truncate(base);
                out.q.insert(seq.clone(), q?);
            }
            let q = &out.q[&seq];
            let rng = if c == 0 {
                &mut *first_rng
            } else {
                &mut *rest_rng
            };
            seq.push(rng.sample(q));
            out.drawn += 1;
        }
        out.seqs.push(seq);
    }
    Ok(out)
}

/// `p` and `q` as dense vectors over the ids either keeps (what the K-SEQ functions take; ids neither keeps add
/// nothing to β, the residual or the bound).
struct DensePair {
    ids: Vec<u32>,
    p: Vec<f64>,
    q: Vec<f64>,
}

impl DensePair {
    fn new(p: &Warped, q: &Warped) -> Self {
        let mut all: Vec<(u32, f64, f64)> = p
            .iter()
            .map(|(id, x)| (id, x, 0.0))
            .chain(q.iter().map(|(id, x)| (id, 0.0, x)))
            .collect();
        all.sort_unstable_by_key(|t| t.0);
        let mut out = Self {
            ids: Vec::with_capacity(all.len()),
            p: Vec::with_capacity(all.len()),
            q: Vec::with_capacity(all.len()),
        };
        for (id, px, qx) in all {
            if out.ids.last() == Some(&id) {
                *out.p.last_mut().expect("pushed together") += px;
                *out.q.last_mut().expect("pushed together") += qx;
            } else {
                out.ids.push(id);
                out.p.push(px);
                out.q.push(qx);
            }
        }
        out
    }

    fn index(&self, id: u32) -> Result<u32> {
        let i = self.ids.binary_search(&id).map_err(|_| {
            SessionError::InvalidOption(format!("draft token {id} outside the draft distribution"))
        })?;
        Ok(i as u32)
    }
}

/// K-SEQ's residual `p - min(q, p/ρ)·(1 - (1-β)^k)/β` with its real ids, for showing; `p` if it is empty.
fn kseq_residual(pair: &DensePair, rho: f64, k: usize) -> Result<Warped> {
    let beta = dist::kseq_beta(&pair.p, &pair.q, rho);
    let scale = if beta > 0.0 {
        (1.0 - (1.0 - beta).powi(k as i32)) / beta
    } else {
        0.0
    };
    let weights = |f: &dyn Fn(f64, f64) -> f64| {
        pair.ids
            .iter()
            .zip(pair.p.iter().zip(&pair.q))
            .map(|(&id, (&p, &q))| (id, f(p, q)))
            .collect::<Vec<_>>()
    };
    Warped::from_weights(weights(&|p, q| (p - q.min(p / rho) * scale).max(0.0)))
        .or_else(|_| Warped::from_weights(weights(&|p, _| p)))
        .map_err(Into::into)
}

/// K-SEQ at one draft position over `candidates` (which draft sequence, token), all drawn from `q`: the check
/// as reported, the token emitted, and K-SEQ's residual when every candidate was rejected.
fn kseq_check(
    tokenizer: &Tokenizer,
    p: &Warped,
    q: &Warped,
    candidates: &[(usize, u32)],
    depth: usize,
    rng: &mut Sampler,
) -> Result<(MultiDraftCheck, u32, Option<Warped>)> {
    let pair = DensePair::new(p, q);
    let k = candidates.len();
    let (rho, kseq_accept) = dist::kseq_rho(&pair.p, &pair.q, k)?;
    let optimal = dist::optimal_acceptance(&pair.p, &pair.q, k, true)?;
    let dense: Vec<u32> = candidates
        .iter()
        .map(|&(_, t)| pair.index(t))
        .collect::<Result<_>>()?;
    let (hit, pick) = dist::kseq_verify(&pair.p, &pair.q, &dense, rho, rng)?;
    let candidates = candidates
        .iter()
        .enumerate()
        .map(|(i, &(draft, id))| {
            let (px, qx) = (p.prob(id), q.prob(id));
            MultiDraftCandidate {
                draft,
                id,
                text: tokenizer.token_text(id),
                q: qx,
                p: px,
                accept_prob: if qx > 0.0 {
                    (px / (rho * qx)).min(1.0)
                } else {
                    0.0
                },
                outcome: match hit {
                    Some(h) if i == h => Outcome::Accepted,
                    Some(h) if i > h => Outcome::Skipped,
                    _ => Outcome::Rejected,
                },
            }
        })
        .collect();
    let check = MultiDraftCheck {
        depth,
        candidates,
        rho,
        beta: dist::beta(p, q),
        kseq_accept,
        optimal,
    };
    let residual = match hit {
        Some(_) => None,
        None => Some(kseq_residual(&pair, rho, k)?),
    };
    Ok((check, pair.ids[pick as usize], residual))
}

/// The target's logits along one candidate sequence: row j follows the history and `seq[..j]`.
struct TargetRows {
    seq: Vec<u32>,
    rows: Vec<f32>,
}

/// Running totals for the summary, per draft position where indexed.
#[derive(Default)]
struct Totals {
    rounds: usize,
    forwards: usize,
    candidates: usize,
    checked: usize,
    accepted: usize,
    beta_sum: f64,
    kseq_sum: f64,
    optimal_sum: f64,
    checked_at: Vec<usize>,
    accepted_at: Vec<usize>,
    kseq_at: Vec<f64>,
    optimal_at: Vec<f64>,
    k_at: Vec<usize>,
}

impl Totals {
    fn record(&mut self, check: &MultiDraftCheck, accepted: bool) {
        let d = check.depth;
        if self.checked_at.len() <= d {
            let n = d + 1;
            self.checked_at.resize(n, 0);
            self.accepted_at.resize(n, 0);
            self.kseq_at.resize(n, 0.0);
            self.optimal_at.resize(n, 0.0);
            self.k_at.resize(n, 0);
        }
        self.checked += 1;
        self.accepted += usize::from(accepted);
        self.beta_sum += check.beta;
        self.kseq_sum += check.kseq_accept;
        self.optimal_sum += check.optimal;
        self.checked_at[d] += 1;
        self.accepted_at[d] += usize::from(accepted);
        self.kseq_at[d] += check.kseq_accept;
        self.optimal_at[d] += check.optimal;
        self.k_at[d] += check.candidates.len();
    }
}

fn ratio(a: f64, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a / b as f64 }
}

impl Session {
    /// Generates with multi-draft speculative decoding: `drafter` (a draft model or early exit) samples
    /// `opts.drafts` sequences per round and this session's model verifies them with K-SEQ. Events as
    /// [`Session::speculate`], each step's `spec.multi` holding the check that decided it; "done" carries the
    /// [`SpecSummary`] with its `multi` part.
    pub fn multidraft(
        &mut self,
        drafter: &mut Drafter,
        opts: &MultiDraftOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        now(self.multidraft_async(drafter, opts, on_event))
    }

    /// [`Session::multidraft`] for backends that must be awaited.
    pub async fn multidraft_async(
        &mut self,
        drafter: &mut Drafter,
        opts: &MultiDraftOptions,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<DoneEvent> {
        let g = &opts.generate;
        g.sampling.validate()?;
        if !(1..=MAX_GAMMA).contains(&opts.gamma) {
            return Err(SessionError::InvalidOption(format!(
                "gamma must be in 1..={MAX_GAMMA}, got {}",
                opts.gamma
            )));
        }
        if !(1..=MAX_DRAFTS).contains(&opts.drafts) {
            return Err(SessionError::InvalidOption(format!(
                "the number of drafts must be in 1..={MAX_DRAFTS}, got {}",
                opts.drafts
            )));
        }
        let (draft_backend, drafter_name) = match drafter {
            Drafter::Model { backend, name } => (backend.as_mut(), name.clone()),
            Drafter::Ngram { .. } | Drafter::Trigram => {
                return Err(SessionError::InvalidOption(
                    "multi-draft needs a drafter that samples its drafts (a draft model or early exit): \
                     n-gram and tri-gram drafts are deterministic, so K drafts would be one draft K times; \
                     use single-draft speculation (drafts = 1) with them"
                        .into(),
                ));
            }
        };
        let prompt = self.prompt_tokens(&g.prompt)?;
        let Some((_, before)) = prompt.split_last() else {
            return Err(SessionError::EmptyPrompt);
        };
        let n_ctx = self.backend.n_ctx();
        if prompt.len() >= n_ctx {
            return Err(SessionError::PromptTooLong {
                tokens: prompt.len(),
                n_ctx,
            });
        }
        self.rewind(0);
        let t0 = Instant::now();
        // The target's cache holds everything but the last token, which opens each round's first pass.
        if !before.is_empty() {
            self.feed(before, LogitsFor::Last).await?;
        }
        let prefill_ms = t0.elapsed().as_secs_f64() * 1e3;

        // Candidate 0 and the bonus token share plain sampling's stream, so a self-draft reproduces plain
        // sampling; the other candidates and K-SEQ's uniforms and residual draws have streams of their own.
        let mut token_rng = Sampler::new(g.seed);
        let mut cand_rng = Sampler::new(g.seed ^ 0x6d75_6c74_6964_7261);
        let mut accept_rng = Sampler::new(g.seed ^ 0x5eed_acce_97ed_0002);
        let mut cache = DraftCache::default();
        let mut bf = dist::BranchingFactor::new();
        let mut history = prompt.clone();
        let mut totals = Totals::default();
        let mut stop = StopReason::Length;
        let vocab = self.backend.config().n_vocab;
        let draft_ctx = draft_backend.n_ctx();
        let decode_start = Instant::now();
        'run: while history.len() - prompt.len() < g.max_tokens {
            if history.len() >= n_ctx {
                stop = StopReason::Context;
                break;
            }
            let round_start = Instant::now();
            let base = history.len();
            let last = history[base - 1];
            let left = g.max_tokens - (base - prompt.len());
            // The draft model sees the history and up to room - 1 drafted tokens.
            let room = opts
                .gamma
                .min(left - 1)
                .min(n_ctx - base - 1)
                .min((draft_ctx + 1).saturating_sub(base));
            let cands = draft_candidates(
                draft_backend,
                &mut cache,
                &mut history,
                opts.drafts,
                room,
                &g.sampling,
                &mut token_rng,
                &mut cand_rng,
            )
            .await?;
            totals.rounds += 1;
            totals.candidates += cands.drawn;

            // Walk the candidates' tree: K-SEQ at each position over the candidates still in play. The target
            // first computes candidate 0's sequence, behind the history's last token.
            self.rewind(base - 1);
            let mut batch = vec![last];
            batch.extend_from_slice(&cands.seqs[0]);
            let mut target = TargetRows {
                rows: self.feed(&batch, LogitsFor::All).await?,
                seq: cands.seqs[0].clone(),
            };
            totals.forwards += 1;
            let mut path: Vec<u32> = Vec::new();
            let mut in_play: Vec<usize> = (0..opts.drafts).collect();
            // Per checked position: the check, the target's distribution and, after a rejection, the residual.
            let mut checks: Vec<(MultiDraftCheck, Warped, Option<Warped>)> = Vec::new();
            let (next, bonus_p) = loop {
                let depth = path.len();
                if target.seq[..depth] != path[..] {
                    // The accepted path left the sequence computed: compute one still in play from where they part.
                    let seq = &cands.seqs[in_play[0]];
                    let common = target
                        .seq
                        .iter()
                        .zip(seq)
                        .take_while(|(a, b)| a == b)
                        .count();
                    self.rewind(base + common);
                    let more = self.feed(&seq[common..], LogitsFor::All).await?;
                    target.rows.truncate((common + 1) * vocab);
                    target.rows.extend_from_slice(&more);
                    target.seq.clone_from(seq);
                    totals.forwards += 1;
                }
                let row = &target.rows[depth * vocab..(depth + 1) * vocab];
                history.extend_from_slice(&path);
                let p = dist::warp(row, &g.sampling, &history);
                history.truncate(base);
                let p = p?;
                if depth == room {
                    break (token_rng.sample(&p), Some(p));
                }
                let tokens: Vec<(usize, u32)> =
                    in_play.iter().map(|&c| (c, cands.seqs[c][depth])).collect();
                let (check, chosen, residual) = kseq_check(
                    &self.tokenizer,
                    &p,
                    &cands.q[&path],
                    &tokens,
                    depth,
                    &mut accept_rng,
                )?;
                let hit = residual.is_none();
                totals.record(&check, hit);
                checks.push((check, p, residual));
                if !hit {
                    break (chosen, None);
                }
                path.push(chosen);
                in_play.retain(|&c| cands.seqs[c][depth] == chosen);
            };
            // Keep the history plus the accepted path (a prefix of the sequence computed last); the next token
            // opens the next round.
            self.rewind(base + path.len());

            let emitted: Vec<u32> = path.iter().copied().chain([next]).collect();
            let ms = round_start.elapsed().as_secs_f64() * 1e3 / emitted.len() as f64;
            let rows = target.rows;
            let round_beta = (!checks.is_empty())
                .then(|| checks.iter().map(|c| c.0.beta).sum::<f64>() / checks.len() as f64);
            let mut checks = checks.into_iter();
            for (i, &id) in emitted.iter().enumerate() {
                let row = &rows[i * vocab..(i + 1) * vocab];
                let (check, p, residual) = match (checks.next(), &bonus_p) {
                    (Some((c, p, r)), _) => (Some(c), p, r),
                    (None, Some(p)) => (None, p.clone(), None),
                    (None, None) => break,
                };
                let mut step = steps::step_event(
                    &self.tokenizer,
                    history.len() - prompt.len(),
                    history.len(),
                    row,
                    &p,
                    id,
                    g.top_n,
                    &mut bf,
                    ms,
                )?;
                let source = match (&check, &residual) {
                    (None, _) => SpecSource::Bonus,
                    (Some(_), None) => SpecSource::Accepted,
                    (Some(_), Some(_)) => SpecSource::Resampled,
                };
                step.spec = Some(SpecStep {
                    round: totals.rounds - 1,
                    source,
                    drafts: Vec::new(),
                    residual: residual
                        .map(|r| steps::entries(&self.tokenizer, r.top(g.top_n)))
                        .unwrap_or_default(),
                    beta: if i == 0 { round_beta } else { None },
                    multi: check,
                });
                history.push(id);
                let flow = on_event(&Event::Step(step));
                if !g.ignore_eos && self.tokenizer.is_end_of_generation(id) {
                    stop = StopReason::Eos;
                    break 'run;
                }
                if flow.is_break() {
                    stop = StopReason::Stopped;
                    break 'run;
                }
            }
        }
        let decode_ms = decode_start.elapsed().as_secs_f64() * 1e3;
        let generated = &history[prompt.len()..];
        let tok_s = if decode_ms > 0.0 {
            generated.len() as f64 / (decode_ms / 1e3)
        } else {
            0.0
        };
        let t = &totals;
        let by = |sums: &[f64]| -> Vec<f64> {
            sums.iter()
                .zip(&t.checked_at)
                .map(|(&s, &n)| ratio(s, n))
                .collect()
        };
        let summary = SpecSummary {
            drafter: drafter_name,
            gamma: opts.gamma,
            target_calls: t.rounds,
            n_drafted: t.checked,
            n_accepted: t.accepted,
            acceptance_rate: ratio(t.accepted as f64, t.checked),
            mean_accepted_len: ratio(t.accepted as f64, t.rounds),
            tokens_per_call: ratio(generated.len() as f64, t.rounds),
            acceptance_by_position: by(&t
                .accepted_at
                .iter()
                .map(|&a| a as f64)
                .collect::<Vec<_>>()),
            mean_beta: (t.checked > 0).then(|| ratio(t.beta_sum, t.checked)),
            expected_tokens_per_call: None,
            tok_s,
            multi: Some(MultiDraftSummary {
                drafts: opts.drafts,
                n_candidates: t.candidates,
                target_forwards: t.forwards,
                tokens_per_forward: ratio(generated.len() as f64, t.forwards),
                mean_kseq_accept: ratio(t.kseq_sum, t.checked),
                mean_optimal: ratio(t.optimal_sum, t.checked),
                kseq_accept_by_position: by(&t.kseq_at),
                optimal_by_position: by(&t.optimal_at),
                candidates_by_position: by(&t.k_at.iter().map(|&k| k as f64).collect::<Vec<_>>()),
            }),
        };
        let done = DoneEvent {
            tokens: generated.len(),
            prompt_tokens: prompt.len(),
            prefill_ms,
            decode_ms,
            decode_tok_s: tok_s,
            stop,
            text: self.tokenizer.decode(generated),
            score: None,
            spec: Some(summary),
            compare: None,
            samples: None,
        };
        let _ = on_event(&Event::Done(done.clone()));
        Ok(done)
    }
}
