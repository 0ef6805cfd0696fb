import { describe, expect, it } from 'vitest';
import { parseTestHooks } from './testHooks';

describe('test hooks', () => {
  it('are off without the query', () => {
    expect(parseTestHooks('')).toEqual({ faults: false, wrongKernel: false, checkOom: false });
    expect(parseTestHooks('?isolation=off')).toEqual({ faults: false, wrongKernel: false, checkOom: false });
  });

  it('are named in the test parameter, comma-separated or repeated', () => {
    expect(parseTestHooks('?test=faults')).toEqual({ faults: true, wrongKernel: false, checkOom: false });
    expect(parseTestHooks('test=wrong-kernel,faults&isolation=off')).toEqual({ faults: true, wrongKernel: true, checkOom: false });
    expect(parseTestHooks('?test=faults&test=wrong-kernel')).toEqual({ faults: true, wrongKernel: true, checkOom: false });
    expect(parseTestHooks('?test=check-oom')).toEqual({ faults: false, wrongKernel: false, checkOom: true });
  });

  it('ignore unknown names and other parameters', () => {
    expect(parseTestHooks('?test=everything&faults=1&wrong-kernel=1')).toEqual({ faults: false, wrongKernel: false, checkOom: false });
    expect(parseTestHooks('?test=toString,constructor')).toEqual({ faults: false, wrongKernel: false, checkOom: false });
    expect(parseTestHooks('?check-oom=1')).toEqual({ faults: false, wrongKernel: false, checkOom: false });
  });
});
