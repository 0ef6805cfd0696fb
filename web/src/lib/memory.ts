// How much memory a model needs before it is loaded, from its header alone (the engine's inspectModel): weights, the
// KV cache at the page's context and working buffers, per backend, and whether the wasm engine can hold it at all.
// A file that cannot fit is refused before its weights are read, rather than running the tab out of memory.
import type { HeaderFacts } from '../../pkg/tokscope_wasm';
import { formatBytes } from './format';

export type { HeaderFacts };

/** Positions of prompt processed at once: activations scale with it. */
const BATCH_ROWS = 64;
/** Parsed metadata and tokenizer tables, per byte of header (the vocabulary's strings and their indexes). */
const HEADER_FACTOR = 3;

/** Where a model's bytes go on one backend. */
export interface MemoryEstimate {
  backend: 'cpu' | 'webgpu';
  /** Context positions the KV cache holds. */
  context: number;
  weights: number;
  kvCache: number;
  working: number;
  /** Bytes in the engine's wasm memory, and on the GPU (0 on the CPU backend). */
  wasm: number;
  gpu: number;
  /** Why the engine cannot hold this model on this backend, or null. */
  refusal: string | null;
}

/** Positions the engine's KV cache gets: what the page asks for, at most what the model was trained on. */
export function contextFor(h: HeaderFacts, nCtx: number): number {
  return h.context_train ? Math.min(nCtx, h.context_train) : nCtx;
}

/** f32 keys and values of every layer at `context` positions. */
export function kvCacheBytes(h: HeaderFacts, context: number): number {
  const perPosition = (h.kv_heads ?? 0) * ((h.key_length ?? 0) + (h.value_length ?? 0)) * 4;
  return (h.layers ?? 0) * context * perPosition;
}

/** Logits and their summaries, the prompt batch's activations, and the parsed header. */
export function workingBytes(h: HeaderFacts): number {
  const logits = (h.vocab_size ?? 0) * 4 * 4;
  const activations = ((h.embedding ?? 0) * 6 + (h.feed_forward ?? 0) * 3) * 4 * BATCH_ROWS;
  return logits + activations + h.header_bytes * HEADER_FACTOR;
}

/**
 * The estimate of `h` on `backend` with `nCtx` positions asked for. On the CPU backend everything lives in wasm memory,
 * and the tensors are read into one allocation; on WebGPU the weights, cache and activations go to the GPU and wasm
 * memory keeps the header and the logits.
 */
export function estimateMemory(h: HeaderFacts, nCtx: number, backend: 'cpu' | 'webgpu'): MemoryEstimate {
  const context = contextFor(h, nCtx);
  const weights = h.tensor_bytes;
  const kvCache = kvCacheBytes(h, context);
  const working = workingBytes(h);
  const hostSide = h.header_bytes * HEADER_FACTOR + (h.vocab_size ?? 0) * 4 * 4;
  const wasm = backend === 'cpu' ? weights + kvCache + working : hostSide;
  const gpu = backend === 'cpu' ? 0 : weights + kvCache + working - hostSide;
  let refusal: string | null = null;
  const space = formatBytes(h.address_space);
  if (wasm > h.address_space) {
    refusal =
      `this model needs about ${formatBytes(wasm)} in the wasm engine's memory on the ${backend === 'cpu' ? 'CPU backend' : 'WebGPU backend'} ` +
      `(weights ${formatBytes(weights)}, KV cache ${formatBytes(kvCache)} at ${context} positions, working buffers ${formatBytes(working)}), ` +
      `more than the ${space} a wasm32 engine can address: it was not loaded`;
  } else if (backend === 'cpu' && weights > h.max_allocation) {
    refusal =
      `its weights take ${formatBytes(weights)}, more than the ${formatBytes(h.max_allocation)} the wasm engine can allocate in one ` +
      `piece for the CPU backend: it was not loaded`;
  }
  return { backend, context, weights, kvCache, working, wasm, gpu, refusal };
}

/** The tensor formats of a file, largest share of bytes first: "Q4_K ×96 (61%), Q6_K ×13 (30%), F32 ×65 (0.1%)". */
export function describeFormats(h: HeaderFacts): string {
  const total = h.tensor_bytes || 1;
  return Object.entries(h.tensor_types)
    .sort(([, a], [, b]) => b.bytes - a.bytes)
    .map(([type, share]) => {
      const pct = (100 * share.bytes) / total;
      return `${type} ×${share.count} (${pct >= 1 || pct === 0 ? pct.toFixed(0) : pct.toPrecision(1)}%)`;
    })
    .join(', ');
}
