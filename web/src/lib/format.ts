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
