import { describe, expect, it } from 'vitest';
import {
  branchingFactor,
  describeEntropy,
  formatBytes,
  formatCount,
  formatNumber,
  formatPercent,
  formatSci,
  natsToBits,
  surprisalBits,
  visibleToken,
} from './format';

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

describe('display formatting', () => {
  it('percentages keep one decimal and mark tiny values', () => {
    expect(formatPercent(0.7731)).toBe('77.3%');
    expect(formatPercent(0)).toBe('0.0%');
    expect(formatPercent(0.0001)).toBe('<0.1%');
    expect(formatPercent(Number.NaN)).toBe('–');
  });

  it('surprisal is -log2 p', () => {
    expect(surprisalBits(Math.log(0.25))).toBeCloseTo(2, 12);
  });

  it('invisible characters become visible, other text stays as is', () => {
    expect(visibleToken(' a\n\t')).toBe('␣a↵⇥');
    expect(visibleToken('')).toBe('∅');
    expect(visibleToken('<img src=x>')).toBe('<img␣src=x>');
  });

  it('sizes and counts read like people write them', () => {
    expect(formatBytes(98_362_432)).toBe('98.4 MB');
    expect(formatCount(134_515_008)).toBe('134.5 M');
    expect(formatNumber(undefined)).toBe('–');
    expect(formatNumber(1.23456, 2)).toBe('1.23');
  });
});

describe('scientific notation', () => {
  it('shows two significant digits, and says where there is no number', () => {
    expect(formatSci(3.21e-7)).toBe('3.2e-7');
    expect(formatSci(0)).toBe('0.0e+0');
    expect(formatSci(0.42)).toBe('4.2e-1');
    expect(formatSci(Infinity)).toBe('∞');
    expect(formatSci(NaN)).toBe('–');
  });
});
