// What a failed engine call means, for the engine worker and the self-check's worker alike. A wasm trap means the
// Rust code panicked (the panic hook kept the reason) or an allocation failed (the allocator noted its size); either
// way that wasm instance is dead.
import type { Wasm } from './threads';

/** The error's message, and whether it killed the wasm instance `wasm`. */
export function describe(e: unknown, wasm: Wasm | null): { message: string; fatal: boolean } {
  if (e instanceof WebAssembly.RuntimeError) return { message: trapMessage(e, wasm), fatal: true };
  if (e instanceof RangeError && /memory/i.test(e.message)) {
    return { message: `the browser ran out of memory for this model (${e.message})`, fatal: true };
  }
  return { message: e instanceof Error ? e.message : String(e), fatal: false };
}

function trapMessage(e: WebAssembly.RuntimeError, wasm: Wasm | null): string {
  try {
    const panic = wasm?.take_panic_message();
    if (panic) return panic;
    const failed = wasm?.failedAllocation();
    if (failed !== undefined && wasm) {
      const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
      return `the engine ran out of memory: ${mib(failed)} more could not be allocated with ${mib(wasm.memoryBytes())} in use`;
    }
  } catch {
    /* the instance cannot even say why */
  }
  return `the engine crashed: ${e.message}`;
}
