// The engine worker's look at a model before loading it: the header's facts and the memory estimate per backend,
// posted to the page at once; a model the engine cannot hold is refused here, before any weight is read.
import type { Wasm } from './threads';
import type { BackendChoice, FromWorker } from './lib/protocol';
import { estimateMemory } from './lib/memory';
import { describe } from './crash';

/**
 * Reads `blob`'s header, posts what it says with both backends' estimates, and returns why the load must not be
 * attempted on the backend it would run on (null where it may). Throws for a file that is not GGUF.
 */
export function inspect(
  wasm: Wasm,
  blob: Blob,
  nCtx: number,
  backend: BackendChoice,
  adapter: { software: boolean } | null,
  post: (message: FromWorker) => void,
): string | null {
  let header;
  try {
    header = wasm.inspectModel(blob);
  } catch (e) {
    throw new Error(`this file is not a model tokscope can run: ${describe(e, wasm).message}`);
  }
  const onCpu = backend === 'cpu' || !adapter || (backend === 'auto' && adapter.software);
  const cpu = estimateMemory(header, nCtx, 'cpu');
  const webgpu = estimateMemory(header, nCtx, 'webgpu');
  post({ type: 'inspected', header, cpu, webgpu, backend: onCpu ? 'cpu' : 'webgpu' });
  return (onCpu ? cpu : webgpu).refusal;
}
