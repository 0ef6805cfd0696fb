// The page loads, its Web Worker runs the wasm engine, and the server hands out model bytes by range.
// Run by `cargo xtask test`, which serves web/dist and sets E2E_BASE_URL, E2E_CHROMIUM and E2E_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const baseUrl = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8080/';
const executablePath = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
const outDir = process.env.E2E_OUT ?? 'target/e2e';

// The flags docs/architecture.md prescribes for a quiet, offline, WebGPU-enabled headless Chromium.
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];

let userDataDir;
let context;
let page;
const consoleErrors = [];

before(async () => {
  userDataDir = mkdtempSync(join(tmpdir(), 'tokscope-e2e-'));
  mkdirSync(outDir, { recursive: true });
  // A persistent context is how playwright takes a fresh --user-data-dir.
  context = await chromium.launchPersistentContext(userDataDir, { executablePath, args, headless: true });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('response', (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

/** Entropy in nats of softmax(logits), written independently of the Rust code under test. */
function entropy(logits) {
  const m = Math.max(...logits);
  const w = logits.map((z) => Math.exp(z - m));
  const s = w.reduce((a, b) => a + b, 0);
  return -w.reduce((h, x) => h + (x / s) * Math.log(x / s), 0);
}

test('the worker loads the wasm engine and computes an entropy', async () => {
  await page.goto(baseUrl);
  assert.equal(await page.title(), 'tokscope');
  const shown = page.getByTestId('entropy');
  try {
    await shown.waitFor({ timeout: 30_000 });
  } finally {
    await page.screenshot({ path: join(outDir, 'home.png'), fullPage: true });
  }
  const engine = await page.getByTestId('engine').innerText();
  assert.match(engine, /tokscope-wasm \d+\.\d+\.\d+/);
  const logits = JSON.parse(await page.getByTestId('logits').innerText());
  assert.ok(logits.length >= 2, `example logits: ${logits}`);
  const nats = Number(await shown.getAttribute('data-nats'));
  assert.ok(Math.abs(nats - entropy(logits)) < 1e-5, `wasm entropy ${nats} vs ${entropy(logits)}`);
  assert.deepEqual(consoleErrors, []);
});

test('the server gives model bytes by range', async () => {
  const head = await page.evaluate(async () => {
    const r = await fetch('models/SmolLM2-135M-Instruct.Q4_1.gguf', { headers: { Range: 'bytes=0-3' } });
    return { status: r.status, range: r.headers.get('content-range'), text: await r.text() };
  });
  assert.equal(head.status, 206);
  assert.match(head.range ?? '', /^bytes 0-3\/\d+$/);
  assert.equal(head.text, 'GGUF');
});
