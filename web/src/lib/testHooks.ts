// Test-only switches, named in the page's query (`?test=faults,wrong-kernel`), never in the shared URL state: the
// browser tests use them to break the engine on purpose. `faults` lets a test make the engine's next forward pass
// panic or run out of memory (window.tokscopeTest.fault); `wrong-kernel` loads models with a deliberately wrong GPU
// kernel, which the WebGPU self-check must catch; `check-oom` makes the self-check's own worker run out of memory.
// Without the query the page behaves as ever.

export interface TestHooks {
  faults: boolean;
  wrongKernel: boolean;
  checkOom: boolean;
}

/** The switches a query string (with or without '?') names; unknown names are ignored. */
export function parseTestHooks(search: string): TestHooks {
  const names = new Set(
    new URLSearchParams(search.replace(/^\?/, ''))
      .getAll('test')
      .flatMap((v) => v.split(','))
      .map((v) => v.trim()),
  );
  return { faults: names.has('faults'), wrongKernel: names.has('wrong-kernel'), checkOom: names.has('check-oom') };
}

/** This page's switches. */
export const testHooks: TestHooks = parseTestHooks(typeof location === 'undefined' ? '' : location.search);
