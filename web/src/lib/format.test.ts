import { describe, expect, it } from 'vitest';
import { branchingFactor, describeEntropy, natsToBits } from './format';

describe('entropy formatting', () => {
  it('a fair coin is one bit and two choices', () => {
    expect(natsToBits(Math.log(2))).toBeCloseTo(1, 12);
    expect(branchingFactor(Math.log(2))).toBeCloseTo(2, 12);
  });

  it('describes a uniform choice among four tokens', () => {
    expect(describeEntropy(Math.log(4))).toBe('2.00 bits ≈ a fair choice among 4.00 tokens');
  });

  it('a certain prediction is zero bits and one choice', () => {
    expect(describeEntropy(0)).toBe('0.00 bits ≈ a fair choice among 1.00 tokens');
  });

  it('refuses nonsense instead of printing NaN', () => {
    expect(describeEntropy(Number.NaN)).toBe('entropy unavailable');
    expect(describeEntropy(-1)).toBe('entropy unavailable');
  });
});
