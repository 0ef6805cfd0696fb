// Decode speed in the browser: tokscope's page next to wllama (llama.cpp compiled to wasm, from npm) on the default
// model, in headless Debian Chromium. Same prompt (tests/bench/prompt.txt), 64 greedy tokens after the prefill and a
// top-20 distribution every step on both sides. Every configuration runs once per round, rounds alternate the
// engines, and the best of the rounds is reported. Prints a table and writes it as JSON.
//
// Run by `cargo xtask bench web`, which builds web/dist, serves it and this folder (with COOP/COEP, so wasm threads
// work) and sets:
//   BENCH_TOKSCOPE_URL  where web/dist is served        BENCH_WLLAMA_URL  where this folder is served
//   BENCH_CHROMIUM      Debian's chromium binary         BENCH_OUT         the JSON file to write
//   BENCH_ROUNDS        rounds (default 2)               BENCH_ONLY        optional: run only rows whose
//                                                                          "engine/backend/threads" contains it
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through \`cargo xtask bench web\`)`);
  return value;
};
const tokscopeUrl = env('BENCH_TOKSCOPE_URL');
const wllamaUrl = env('BENCH_WLLAMA_URL');
const executablePath = env('BENCH_CHROMIUM');
const outFile = env('BENCH_OUT');
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const only = process.env.BENCH_ONLY ?? '';

const MODEL_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const PROMPT = readFileSync(join(root, 'tests/bench/prompt.txt'), 'utf8');
const N_PREDICT = 64;
const TOP_N = 20;
const LONG = 300_000;
const wllamaVersion = JSON.parse(readFileSync(join(here, 'node_modules/@wllama/wllama/package.json'), 'utf8')).version;

// docs/architecture.md's flags for a quiet, offline headless Chromium; WebGPU on (SwiftShader where there is no GPU).
const args = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];

/** The configurations, in the order each round runs them (engines alternate). */
const CONFIGS = [
  { engine: 'tokscope', backend: 'cpu', threads: 1 },
  { engine: 'wllama', backend: 'cpu', threads: 1 },
  { engine: 'tokscope', backend: 'cpu', threads: 2 },
  { engine: 'wllama', backend: 'cpu', threads: 2 },
  { engine: 'tokscope', backend: 'webgpu', threads: 1 },
  { engine: 'wllama', backend: 'webgpu', threads: 1 },
].filter((c) => `${c.engine}/${c.backend}/${c.threads}`.includes(only));

/**
 * Runs in the tokscope page before its scripts: every message its Web Worker posts is also seen here, so the run's
 * done event (decode_tok_s, prefill_ms, prompt_tokens) and the loaded model's facts are read exactly, not from text.
 */
function observeWorkers() {
  const seen = { done: [], facts: [], errors: [] };
  window.__bench = seen;
  const Native = window.Worker;
  window.Worker = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        const m = e.data;
        if (m?.type === 'event' && m.event?.type === 'done') seen.done.push(m.event);
        else if (m?.type === 'loaded') seen.facts.push(m.facts);
        else if (m?.type === 'error') seen.errors.push(`${m.during}: ${m.message}`);
      });
    }
  };
}

/** One run of tokscope's page: load the default model, one warm-up run, one measured run. */
async function tokscope(page, { backend, threads }) {
  await page.addInitScript(observeWorkers);
  const hash = new URLSearchParams({
    mode: 'raw',
    prompt: PROMPT,
    temperature: '0',
    max_tokens: String(N_PREDICT),
    top_n: String(TOP_N),
    backend,
    threads: String(threads),
  });
  // The page keeps its settings, the backend among them, in the URL hash. It runs the CPU backend on one thread per
  // core (up to 4) where it is cross-origin isolated, so one thread is asked for by serving it without isolation.
  const query = threads > 1 ? '' : '?isolation=off';
  await page.goto(`${tokscopeUrl}${query}#${hash}`);
  const facts = page.getByTestId('model-facts');
  await Promise.race([
    facts.waitFor({ timeout: LONG }),
    page.getByTestId('model-error').waitFor({ timeout: LONG }).then(async () => {
      throw new Error(`the page could not load the model: ${await page.getByTestId('model-error').innerText()}`);
    }),
  ]);
  const backendText = await page.getByTestId('backend').innerText();
  for (let n = 1; n <= 2; n++) {
    await page.getByTestId('run').click();
    await page.waitForFunction((k) => window.__bench.done.length >= k || window.__bench.errors.length > 0, n, { timeout: LONG });
    const errors = await page.evaluate(() => window.__bench.errors);
    if (errors.length) throw new Error(`the page's worker reported: ${errors.join('; ')}`);
  }
  const done = await page.evaluate(() => window.__bench.done.at(-1));
  if (done.tokens !== N_PREDICT) throw new Error(`the run stopped after ${done.tokens} tokens (${done.stop})`);
  const threadsUsed = Number(/(\d+) threads?\)/.exec(backendText)?.[1] ?? 1);
  const honoured =
    backend === 'webgpu' ? /gpu/i.test(backendText) : /cpu/i.test(backendText) && !/gpu/i.test(backendText) && threadsUsed === threads;
  return {
    prompt_tokens: done.prompt_tokens,
    tokens: done.tokens,
    prefill_tok_s: done.prompt_tokens / (done.prefill_ms / 1e3),
    decode_tok_s: done.decode_tok_s,
    backend_text: backendText,
    honoured,
    text: done.text,
  };
}

/** One run of wllama on the bench page: fresh instance, model, one warm-up and one measured completion. */
async function wllama(page, { backend, threads }) {
  await page.goto(`${wllamaUrl}wllama.html`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60_000 });
  const isolated = await page.evaluate(() => window.crossOriginIsolated);
  if (threads > 1 && !isolated) throw new Error('the wllama page is not cross-origin isolated: no wasm threads');
  const r = await page.evaluate((o) => window.benchWllama(o), {
    modelUrl: `/models/${MODEL_FILE}`,
    prompt: PROMPT,
    threads,
    gpuLayers: backend === 'webgpu' ? 99 : 0,
    nPredict: N_PREDICT,
    nProbs: TOP_N,
  });
  if (r.tokens !== N_PREDICT) throw new Error(`wllama decoded ${r.tokens} tokens, not ${N_PREDICT}`);
  if (r.top_steps !== N_PREDICT || r.top_width < TOP_N) {
    throw new Error(`wllama returned ${r.top_steps} top lists of ≥${r.top_width} entries, not ${N_PREDICT} of ${TOP_N}`);
  }
  if (r.threads !== threads) throw new Error(`wllama ran ${r.threads} threads, not ${threads}`);
  // llama.cpp names the buffer of each device that holds weights: "CPU model buffer size", or another device's.
  const devices = r.placement.flatMap((l) => /^load_tensors:\s+(\S+) model buffer size/.exec(l)?.[1] ?? []);
  const onGpu = devices.some((d) => !/^CPU/.test(d));
  return {
    prompt_tokens: r.prompt_tokens,
    tokens: r.tokens,
    prefill_tok_s: r.prompt_tokens / (r.prefill_ms / 1e3),
    // llama.cpp's predicted_ms starts when the first token (from the prefill's logits) is sampled, and counts it:
    // the forward passes are one fewer, as in tokscope's decode_tok_s.
    decode_tok_s: (r.tokens - 1) / (r.decode_ms / 1e3),
    wall_ms: r.wall_ms,
    backend_text: r.placement.join(' | '),
    devices,
    honoured: backend === 'webgpu' ? onGpu : !onGpu,
    text: r.text,
  };
}

function fmt(x, digits = 1) {
  return x == null || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** The rows as a fixed-width table (speeds in tokens/s; "runs" lists every round's decode speed). */
function table(rows) {
  const head = ['engine', 'backend', 'threads', 'prefill tok/s', 'decode tok/s', 'decode runs', 'backend used'];
  const body = rows.map((r) => [
    r.engine,
    r.backend,
    String(r.threads),
    fmt(r.prefill_tok_s),
    fmt(r.decode_tok_s),
    r.runs.map((x) => (x.error ? 'error' : fmt(x.decode_tok_s))).join(', '),
    r.honoured === false ? `NOT ${r.backend}` : r.honoured ? 'yes' : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

/** Best of the rounds, each number on its own; the backend facts come from the last successful run. */
function summarize(results, complete) {
  const rows = results.map(({ runs, ...c }) => {
    const ok = runs.filter((r) => !r.error);
    const best = (k) => (ok.length ? Math.max(...ok.map((r) => r[k])) : null);
    const last = ok.at(-1);
    return {
      ...c,
      prefill_tok_s: best('prefill_tok_s'),
      decode_tok_s: best('decode_tok_s'),
      prompt_tokens: last?.prompt_tokens ?? null,
      honoured: last ? last.honoured : null,
      backend_text: last?.backend_text ?? null,
      runs: runs.map(({ text, ...r }) => r),
      text: last?.text ?? null,
    };
  });
  // Greedy decoding of the same prompt: every configuration should produce the same text (a check that all did the
  // same work; the engines' f32 and f16 arithmetic may still part ways late in a long run).
  const texts = new Set(rows.filter((r) => r.text != null).map((r) => r.text));
  return {
    date: new Date().toISOString(),
    complete,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, loadavg_start: loadStart, loadavg_end: loadavg(), browser: userAgent },
    texts_agree: texts.size <= 1,
    settings: { prompt_file: 'tests/bench/prompt.txt', max_tokens: N_PREDICT, top_n: TOP_N, temperature: 0, rounds, wllama: wllamaVersion },
    rows,
  };
}

/** Writes the JSON after every run, so an interrupted benchmark still leaves what it measured. */
function save(report) {
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(report, null, 2) + '\n');
}

const loadStart = loadavg();
let userAgent = '';
const userDataDir = mkdtempSync(join(tmpdir(), 'tokscope-bench-web-'));
const context = await chromium.launchPersistentContext(userDataDir, { executablePath, args, headless: true });
const results = CONFIGS.map((c) => ({ ...c, runs: [] }));
try {
  for (let round = 1; round <= rounds; round++) {
    for (const row of results) {
      const page = await context.newPage();
      const consoleErrors = [];
      page.on('pageerror', (e) => consoleErrors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
      const label = `round ${round}/${rounds}: ${row.engine} ${row.backend} ${row.threads} thread(s)`;
      try {
        userAgent ||= await page.evaluate(() => navigator.userAgent);
        const t0 = performance.now();
        const r = row.engine === 'tokscope' ? await tokscope(page, row) : await wllama(page, row);
        r.load1 = loadavg()[0];
        console.log(
          `${label}: prefill ${fmt(r.prefill_tok_s)} tok/s, decode ${fmt(r.decode_tok_s)} tok/s ` +
            `(${r.prompt_tokens} prompt tokens; ${((performance.now() - t0) / 1e3).toFixed(1)} s; load ${r.load1.toFixed(2)}; ` +
            `backend: ${r.backend_text || '?'})`,
        );
        row.runs.push(r);
      } catch (e) {
        const error = `${e.message.split('\n')[0]}${consoleErrors.length ? ` [console: ${consoleErrors.slice(0, 3).join(' / ')}]` : ''}`;
        console.log(`${label}: FAILED: ${error}`);
        row.runs.push({ error });
      } finally {
        await page.close();
      }
      save(summarize(results, false));
    }
  }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}

const report = summarize(results, true);
save(report);
console.log(`\n${table(report.rows)}\n`);
const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(`load average (1, 5, 15 min): ${la(loadStart)} at the start, ${la(report.machine.loadavg_end)} at the end`);
console.log(`greedy texts: ${report.texts_agree ? `every configuration produced the same ${N_PREDICT} tokens` : `they differ (see ${outFile})`}`);
console.log(`${userAgent}; wllama ${wllamaVersion}; written to ${outFile}`);
if (report.rows.some((r) => r.backend === 'cpu' && r.decode_tok_s == null)) {
  console.error('a CPU configuration failed in every round');
  process.exit(1);
}
