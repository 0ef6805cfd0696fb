// Number formatting shared by the views: entropy is computed in nats, shown in bits and as a
// branching factor ("as uncertain as a fair choice among N tokens"), see docs/metrics.md.

/** Entropy in bits from nats. */
export function natsToBits(nats: number): number {
  return nats / Math.LN2;
}

/** The effective number of choices: exp(H) with H in nats (the perplexity of one step). */
export function branchingFactor(nats: number): number {
  return Math.exp(nats);
}

/** One readable line about an entropy, e.g. "2.00 bits ≈ a fair choice among 4.00 tokens". */
export function describeEntropy(nats: number): string {
  if (!Number.isFinite(nats) || nats < 0) return 'entropy unavailable';
  return `${natsToBits(nats).toFixed(2)} bits ≈ a fair choice among ${branchingFactor(nats).toFixed(2)} tokens`;
}

/** Surprisal in bits of a token with log-probability `logprob` (nats): -logprob / ln 2. */
export function surprisalBits(logprob: number): number {
  return -logprob / Math.LN2;
}

/** A probability as a percentage with one decimal, e.g. "77.3%"; "<0.1%" for tiny nonzero values. */
export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) return '–';
  if (p > 0 && p < 0.0005) return '<0.1%';
  return `${(p * 100).toFixed(1)}%`;
}

/** A number with `digits` decimals, or "–" where it is not finite. */
export function formatNumber(x: number | undefined, digits = 3): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** A small number in scientific notation with two significant digits ("3.2e-7"), "∞" for infinity, "–" for NaN. */
export function formatSci(x: number): string {
  if (x === Infinity) return '∞';
  return Number.isFinite(x) ? x.toExponential(1) : '–';
}

/** A token's text with invisible characters made visible (space ␣, newline ↵, tab ⇥), for lists and charts. */
export function visibleToken(text: string): string {
  if (text === '') return '∅';
  return text.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/\r/g, '␍');
}

/** A byte count for people: "98.4 MB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** A parameter count for people: "134.5 M". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
