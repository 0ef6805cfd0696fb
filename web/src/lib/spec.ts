// Speculative decoding on the page: the steps of a speculate run grouped into verification rounds (one lane per
// target call), and the acceptance statistics derived from them while the run streams (done.spec has the final
// numbers; these match its definitions, docs/protocol.md and metrics.md §5). A multi-draft run (K draft sequences
// per round, verified with K-SEQ) carries its checks on the emitted steps (`spec.multi`) instead of `spec.drafts`:
// its statistics count checked draft positions, as done.spec does for such a run.
import type { DraftOutcome, MultiDraftCheck, SpecDraft, SpecSource, StepEvent } from './protocol';

/** One verification round: what was drafted, and what the target emitted. */
export interface Round {
  round: number;
  /** Run index of the round's first emitted token. */
  first: number;
  drafts: SpecDraft[];
  /** The emitted tokens in order: accepted drafts, then the resampled or bonus token. */
  emitted: StepEvent[];
  /** Mean β over the round's drafts; null when nothing was drafted. */
  beta: number | null;
}

/** Groups a run's steps by `spec.round` (steps without `spec` are left out). */
export function groupRounds(steps: StepEvent[]): Round[] {
  const rounds: Round[] = [];
  for (const s of steps) {
    if (!s.spec) continue;
    let r = rounds.at(-1);
    if (!r || r.round !== s.spec.round) {
      r = { round: s.spec.round, first: s.index, drafts: s.spec.drafts ?? [], emitted: [], beta: s.spec.beta ?? null };
      rounds.push(r);
    }
    r.emitted.push(s);
  }
  return rounds;
}

/** One cell of a round's lane: a draft with its outcome, or a token the target drew itself. */
export interface LaneCell {
  kind: DraftOutcome | Exclude<SpecSource, 'accepted'>;
  id: number;
  text: string;
  /** The draft, for draft cells. */
  draft?: SpecDraft;
  /** Run index of the emitted step, where the cell's token was emitted (accepted drafts, resampled, bonus). */
  step?: number;
}

/** A round's lane: its drafts in order (accepted ones linked to their emitted steps), then the resampled or bonus token. */
export function laneCells(r: Round): LaneCell[] {
  const accepted = r.emitted.filter((s) => s.spec?.source === 'accepted');
  let a = 0;
  const cells: LaneCell[] = r.drafts.map((d) => {
    const cell: LaneCell = { kind: d.outcome, id: d.id, text: d.text, draft: d };
    if (d.outcome === 'accepted' && a < accepted.length) cell.step = accepted[a++].index;
    return cell;
  });
  for (const s of r.emitted) {
    const source = s.spec?.source;
    if (source === 'resampled' || source === 'bonus') cells.push({ kind: source, id: s.token.id, text: s.token.text, step: s.index });
  }
  return cells;
}

/** Live counterparts of done.spec's counts. */
export interface SpecCounts {
  target_calls: number;
  n_drafted: number;
  n_accepted: number;
  /** n_accepted / n_drafted (skipped drafts count as drafted); NaN before anything was drafted. */
  acceptance_rate: number;
  /** Emitted tokens per target call: the speed-up over one token per call. */
  tokens_per_call: number;
  /** Mean β over every drafted position; NaN before anything was drafted. */
  mean_beta: number;
}

/** A draft position as the statistics count it: its position in the round, whether a draft was kept there, its β. */
export interface CheckedPosition {
  depth: number;
  accepted: boolean;
  beta: number;
}

/**
 * The positions a round counts as drafted. Single-draft: every draft (skipped ones too, as llama.cpp counts them).
 * Multi-draft: every position K-SEQ checked (a position after a rejection was never checked and is not counted).
 */
export function checkedPositions(r: Round): CheckedPosition[] {
  const multi = r.emitted.flatMap((s) => (s.spec?.multi ? [s.spec.multi] : []));
  if (multi.length) return multi.map((m) => ({ depth: m.depth, accepted: m.candidates.some((c) => c.outcome === 'accepted'), beta: m.beta }));
  return r.drafts.map((d, depth) => ({ depth, accepted: d.outcome === 'accepted', beta: d.beta }));
}

export function specCounts(rounds: Round[]): SpecCounts {
  let drafted = 0;
  let accepted = 0;
  let emitted = 0;
  let betaSum = 0;
  for (const r of rounds) {
    const checked = checkedPositions(r);
    drafted += checked.length;
    accepted += checked.filter((c) => c.accepted).length;
    emitted += r.emitted.length;
    betaSum += checked.reduce((sum, c) => sum + c.beta, 0);
  }
  return {
    target_calls: rounds.length,
    n_drafted: drafted,
    n_accepted: accepted,
    acceptance_rate: drafted ? accepted / drafted : NaN,
    tokens_per_call: rounds.length ? emitted / rounds.length : NaN,
    mean_beta: drafted ? betaSum / drafted : NaN,
  };
}

/** For draft position i: accepted at i / rounds that drafted a token at i (multi-draft: that checked position i). */
export function acceptanceByPosition(rounds: Round[]): number[] {
  const drafted: number[] = [];
  const accepted: number[] = [];
  for (const r of rounds) {
    for (const c of checkedPositions(r)) {
      drafted[c.depth] = (drafted[c.depth] ?? 0) + 1;
      accepted[c.depth] = (accepted[c.depth] ?? 0) + Number(c.accepted);
    }
  }
  return Array.from(drafted, (n, i) => (n ? accepted[i] / n : NaN));
}

/**
 * The acceptance rate so far at each step of the run; NaN before any draft. A single-draft round counts from its
 * first token on (its drafts come with it); a multi-draft check counts from the token it decided.
 */
export function runningAcceptance(steps: StepEvent[]): number[] {
  let drafted = 0;
  let accepted = 0;
  let round = -1;
  return steps.map((s) => {
    if (s.spec?.multi) {
      drafted += 1;
      accepted += Number(s.spec.multi.candidates.some((c) => c.outcome === 'accepted'));
    } else if (s.spec && s.spec.round !== round) {
      round = s.spec.round;
      const drafts = s.spec.drafts ?? [];
      drafted += drafts.length;
      accepted += drafts.filter((d) => d.outcome === 'accepted').length;
    }
    return drafted ? accepted / drafted : NaN;
  });
}

/** Whether a run's steps come from multi-draft speculation (K-SEQ checks on the steps). */
export function isMultiDraft(steps: StepEvent[]): boolean {
  return steps.some((s) => s.spec?.multi);
}

/** One emitted token of a multi-draft round with the K-SEQ check that decided it (null for a bonus token). */
export interface MultiColumn {
  /** Run index of the emitted step. */
  step: number;
  id: number;
  text: string;
  source: SpecSource;
  check: MultiDraftCheck | null;
}

/** A multi-draft round's lane: a column per emitted token, each with the candidates K-SEQ checked there. */
export function multiColumns(r: Round): MultiColumn[] {
  return r.emitted.map((s) => ({
    step: s.index,
    id: s.token.id,
    text: s.token.text,
    source: s.spec?.source ?? 'bonus',
    check: s.spec?.multi ?? null,
  }));
}

/** Live counterparts of done.spec.multi's means: over every check, and per draft position (0-based). */
export interface MultiStats {
  mean_kseq_accept: number;
  mean_optimal: number;
  kseq_accept_by_position: number[];
  optimal_by_position: number[];
  candidates_by_position: number[];
}

export function multiStats(steps: StepEvent[]): MultiStats {
  const checks = steps.flatMap((s) => (s.spec?.multi ? [s.spec.multi] : []));
  const n: number[] = [];
  const kseq: number[] = [];
  const optimal: number[] = [];
  const candidates: number[] = [];
  for (const c of checks) {
    n[c.depth] = (n[c.depth] ?? 0) + 1;
    kseq[c.depth] = (kseq[c.depth] ?? 0) + c.kseq_accept;
    optimal[c.depth] = (optimal[c.depth] ?? 0) + c.optimal;
    candidates[c.depth] = (candidates[c.depth] ?? 0) + c.candidates.length;
  }
  const mean = (sums: number[]) => Array.from(n, (k, i) => (k ? sums[i] / k : NaN));
  const total = (f: (c: MultiDraftCheck) => number) => checks.reduce((a, c) => a + f(c), 0);
  return {
    mean_kseq_accept: checks.length ? total((c) => c.kseq_accept) / checks.length : NaN,
    mean_optimal: checks.length ? total((c) => c.optimal) / checks.length : NaN,
    kseq_accept_by_position: mean(kseq),
    optimal_by_position: mean(optimal),
    candidates_by_position: mean(candidates),
  };
}

/** Expected tokens per target call when each draft is accepted with probability α independently: (1 − α^(γ+1)) / (1 − α). */
export function expectedTokensPerCall(alpha: number, gamma: number): number {
  if (!Number.isFinite(alpha) || alpha < 0 || alpha > 1 || gamma < 0) return NaN;
  if (alpha === 1) return gamma + 1;
  return (1 - alpha ** (gamma + 1)) / (1 - alpha);
}

/** The theoretical acceptance at draft position i (reached only when every earlier draft was kept): α^(i+1). */
export function expectedAcceptanceAt(alpha: number, i: number): number {
  return alpha ** (i + 1);
}
