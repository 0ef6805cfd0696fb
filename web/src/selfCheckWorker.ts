// The WebGPU self-check's CPU side in a wasm instance of its own (see selfCheck.ts): one request, one reply, then the
// engine worker ends this worker and its memory with it.
import { describe } from './crash';
import type { CheckReply, CheckRequest } from './selfCheck';
import { loadWasm, type Wasm } from './threads';

let wasm: Wasm | null = null;
let replied = false;

function reply(message: CheckReply, transfer: Transferable[] = []) {
  if (replied) return;
  replied = true;
  self.postMessage(message, transfer);
}

function fail(e: unknown) {
  reply({ ok: false, message: describe(e, wasm).message });
}

self.onmessage = async (e: MessageEvent<CheckRequest>) => {
  try {
    wasm = await loadWasm();
    if (e.data.fault) wasm.armFault(e.data.fault);
    const reference = await wasm.selfCheckReference(e.data.blob);
    reply({ ok: true, reference }, [reference.tokens.buffer, reference.logits.buffer]);
  } catch (err) {
    fail(err);
  }
};

// A trap inside the wasm's async task escapes the `try` above and arrives here instead.
self.addEventListener('error', (e: ErrorEvent) => {
  e.preventDefault();
  fail(e.error ?? e.message);
});
self.addEventListener('unhandledrejection', (e: PromiseRejectionEvent) => {
  e.preventDefault();
  fail(e.reason);
});
