// Speculative decoding on the page: the steps of a speculate run grouped into verification rounds (one lane per
// target call), and the acceptance statistics derived from them while the run streams (done.spec has the final
// numbers; these match its definitions, docs/protocol.md and metrics.md §5).
import type { DraftOutcome, SpecDraft, SpecSource, StepEvent } from './protocol';

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

export function specCounts(rounds: Round[]): SpecCounts {
  let drafted = 0;
  let accepted = 0;
  let emitted = 0;
  let betaSum = 0;
  for (const r of rounds) {
    drafted += r.drafts.length;
    accepted += r.drafts.filter((d) => d.outcome === 'accepted').length;
    emitted += r.emitted.length;
    betaSum += r.drafts.reduce((sum, d) => sum + d.beta, 0);
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

/** For draft position i: accepted at i / rounds that drafted a token at i. */
export function acceptanceByPosition(rounds: Round[]): number[] {
  const drafted: number[] = [];
  const accepted: number[] = [];
  for (const r of rounds) {
    r.drafts.forEach((d, i) => {
      drafted[i] = (drafted[i] ?? 0) + 1;
      accepted[i] = (accepted[i] ?? 0) + Number(d.outcome === 'accepted');
    });
  }
  return drafted.map((n, i) => accepted[i] / n);
}

/** The acceptance rate so far at each step of the run (counting every round up to the step's own); NaN before any draft. */
export function runningAcceptance(steps: StepEvent[]): number[] {
  let drafted = 0;
  let accepted = 0;
  let round = -1;
  return steps.map((s) => {
    if (s.spec && s.spec.round !== round) {
      round = s.spec.round;
      const drafts = s.spec.drafts ?? [];
      drafted += drafts.length;
      accepted += drafts.filter((d) => d.outcome === 'accepted').length;
    }
    return drafted ? accepted / drafted : NaN;
  });
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
