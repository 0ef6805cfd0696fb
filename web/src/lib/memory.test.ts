import { describe, expect, it } from 'vitest';
import { contextFor, describeFormats, estimateMemory, kvCacheBytes, type HeaderFacts } from './memory';

const GiB = 2 ** 30;

/** SmolLM2-135M's shapes (30 layers, 3 KV heads of 64) with round sizes. */
function smol(overrides: Partial<HeaderFacts> = {}): HeaderFacts {
  return {
    name: 'SmolLM2',
    architecture: 'llama',
    file_bytes: 90e6,
    header_bytes: 2e6,
    tensor_bytes: 88e6,
    largest_tensor: 20e6,
    parameters: 134e6,
    tensor_types: { Q4_1: { count: 210, bytes: 80e6 }, Q6_K: { count: 1, bytes: 7.9e6 }, F32: { count: 61, bytes: 0.1e6 } },
    layers: 30,
    embedding: 576,
    feed_forward: 1536,
    kv_heads: 3,
    key_length: 64,
    value_length: 64,
    vocab_size: 49152,
    context_train: 8192,
    address_space: 4 * GiB,
    max_allocation: 2 * GiB - 1,
    ...overrides,
  };
}

describe('estimateMemory', () => {
  it('sizes the f32 KV cache at 45 KiB a position for the default model', () => {
    expect(kvCacheBytes(smol(), 1)).toBe(30 * 3 * 128 * 4);
    expect(kvCacheBytes(smol(), 2048)).toBe(2048 * 46080);
  });

  it('caps the context at what the model was trained on', () => {
    expect(contextFor(smol({ context_train: 1024 }), 2048)).toBe(1024);
    expect(contextFor(smol({ context_train: null }), 2048)).toBe(2048);
    expect(estimateMemory(smol({ context_train: 1024 }), 2048, 'cpu').kvCache).toBe(1024 * 46080);
  });

  it('puts everything in wasm memory on the CPU, the weights and cache on the GPU with WebGPU', () => {
    const cpu = estimateMemory(smol(), 2048, 'cpu');
    expect(cpu.wasm).toBe(cpu.weights + cpu.kvCache + cpu.working);
    expect(cpu.weights).toBe(88e6);
    expect(cpu.gpu).toBe(0);
    expect(cpu.refusal).toBeNull();
    const gpu = estimateMemory(smol(), 2048, 'webgpu');
    expect(gpu.wasm + gpu.gpu).toBe(cpu.wasm);
    expect(gpu.gpu).toBeGreaterThan(gpu.weights + gpu.kvCache);
    expect(gpu.wasm).toBeLessThan(10e6);
    expect(gpu.refusal).toBeNull();
  });

  it('refuses what a wasm32 engine cannot address, naming the parts', () => {
    const huge = smol({ tensor_bytes: 5 * GiB, file_bytes: 5 * GiB + 2e6 });
    const cpu = estimateMemory(huge, 2048, 'cpu');
    expect(cpu.refusal).toMatch(/needs about 5\.\d\d GB in the wasm engine's memory on the CPU backend/);
    expect(cpu.refusal).toMatch(/weights 5\.37 GB, KV cache 94\.4 MB at 2048 positions/);
    expect(cpu.refusal).toMatch(/more than the 4\.29 GB a wasm32 engine can address: it was not loaded/);
    // On WebGPU the weights leave wasm memory: the GPU decides.
    expect(estimateMemory(huge, 2048, 'webgpu').refusal).toBeNull();
  });

  it('refuses weights past the largest allocation on the CPU only', () => {
    const big = smol({ tensor_bytes: 3 * GiB });
    expect(estimateMemory(big, 2048, 'cpu').refusal).toMatch(/more than the 2\.15 GB the wasm engine can allocate in one piece/);
    expect(estimateMemory(big, 2048, 'webgpu').refusal).toBeNull();
  });

  it('refuses a KV cache past the address space even where the weights are small', () => {
    const deep = smol({ layers: 30_000 });
    expect(estimateMemory(deep, 2048, 'cpu').refusal).toMatch(/KV cache 94\.37 GB/);
  });
});

describe('describeFormats', () => {
  it('lists types by their share of the bytes', () => {
    expect(describeFormats(smol())).toBe('Q4_1 ×210 (91%), Q6_K ×1 (9%), F32 ×61 (0.1%)');
  });
});
