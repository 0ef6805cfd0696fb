// Shared by the e2e test files: where things are, the browser, the CLI as an independent source of numbers, and
// waits for the page's runs. Not a test file itself (node --test picks up *.test.mjs only).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const baseUrl = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:8080/';
const executablePath = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
export const outDir = process.env.E2E_OUT ?? join(root, 'target/e2e');
export const screenshotDir = join(outDir, 'screenshots');
export const modelPath = join(root, 'models/SmolLM2-135M-Instruct.Q4_1.gguf');
export const LONG = 180_000;

// The flags docs/architecture.md prescribes for a quiet, offline headless Chromium.
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

/**
 * A fresh browser profile (so the model cache starts empty) with one page; console errors, failed responses and
 * dialogs are collected for the tests to assert on. `close()` ends the browser and removes the profile.
 */
export async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'tokscope-e2e-'));
  mkdirSync(screenshotDir, { recursive: true });
  // A persistent context is how playwright takes a fresh --user-data-dir.
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath, args, headless: true, acceptDownloads: true });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  const dialogs = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('response', (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, consoleErrors, dialogs, close };
}

let built = null;

/**
 * The release CLI the page's numbers are compared with: `E2E_CLI` (the e2e stage builds it and names it), else this
 * tree's, built here once per run (cargo does nothing when it is up to date), so a stale binary is never compared.
 */
function cli() {
  const given = process.env.E2E_CLI;
  if (given) {
    if (!existsSync(given)) throw new Error(`E2E_CLI names ${given}, which does not exist`);
    return given;
  }
  if (!built) {
    execFileSync('cargo', ['build', '--release', '-p', 'tokscope-cli'], { cwd: root, stdio: 'inherit' });
    const target = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, 'target');
    built = join(target, 'release/tokscope');
  }
  return built;
}

/** JSONL events of a CLI command on the default model and the CPU backend. */
export function cliEvents(argv) {
  const out = execFileSync(cli(), [...argv, '--model', modelPath, '--backend', 'cpu', '--format', 'jsonl'], { encoding: 'utf8' });
  return out.trim().split('\n').map((line) => JSON.parse(line));
}

/** Written here independently of web/src: invisible characters shown as the page shows them. */
export function visible(text) {
  if (text === '') return '∅';
  return text.replaceAll(' ', '␣').replaceAll('\n', '↵').replaceAll('\t', '⇥').replaceAll('\r', '␍');
}

/** A number shown with `digits` decimals equals `expected` to that precision (half a unit of the last digit). */
export function assertShown(shown, expected, digits, what) {
  const x = Number.parseFloat(shown);
  assert.ok(Number.isFinite(x), `${what}: "${shown}" is not a number`);
  assert.ok(Math.abs(x - expected) <= 0.5 * 10 ** -digits + 1e-9, `${what}: page shows ${shown}, expected ${expected}`);
}

export async function shot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/** The page's settings as a URL hash (without '#'). */
export function hashOf(settings) {
  return new URLSearchParams(Object.entries(settings).map(([k, v]) => [k, String(v)])).toString();
}

/**
 * Opens the page as a new document with settings in the URL hash (a hash change alone would not reload it, and the
 * backend is chosen when the model loads), and waits until the model is ready. `query`: the page's own switches,
 * such as `test=faults` (web/src/lib/testHooks.ts).
 */
export async function openFresh(page, settings, query = '') {
  await page.goto('about:blank');
  await page.goto(`${baseUrl}${query ? `?${query}` : ''}#${hashOf(settings)}`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
}

/**
 * Clicks `button` (the run button unless given) and notes when the run it starts has begun: the token stream's
 * `data-done` goes away (the shown run has no done event yet). `waitDone` then waits for it to come back.
 */
export async function startRun(page, button = page.getByTestId('run')) {
  await page.evaluate(() => {
    const done = () => document.querySelector('[data-testid=token-stream]')?.hasAttribute('data-done') ?? false;
    window.__e2eStarted = !done();
    if (window.__e2eStarted) return;
    const observer = new MutationObserver(() => {
      if (!done()) {
        window.__e2eStarted = true;
        observer.disconnect();
      }
    });
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-done'] });
  });
  await button.click();
}

/** Waits for the done event of the run `startRun` started and returns it. */
export async function waitDone(page) {
  await page.waitForFunction(
    () => window.__e2eStarted && document.querySelector('[data-testid=token-stream]')?.hasAttribute('data-done'),
    null,
    { timeout: LONG },
  );
  return shownDone(page);
}

/** Starts a run with `button` and waits for its done event. */
export async function runToDone(page, button = page.getByTestId('run')) {
  await startRun(page, button);
  return waitDone(page);
}

/** The number of steps the token stream shows. */
export async function shownSteps(page) {
  return Number(await page.getByTestId('token-stream').getAttribute('data-steps'));
}

/** The done event of the run the token stream shows. */
export async function shownDone(page) {
  return JSON.parse(await page.getByTestId('token-stream').getAttribute('data-done'));
}

/** Clicks an export button and gives back the downloaded file's name and bytes. */
export async function download(page, button) {
  const [file] = await Promise.all([page.waitForEvent('download'), button.click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), bytes: readFileSync(path) };
}

/** The shown run as the page exports it (JSON: settings, model, steps, done). */
export async function exportedRun(page) {
  const { name, bytes } = await download(page, page.getByTestId('export-json'));
  assert.equal(name, 'tokscope-run.json');
  return JSON.parse(bytes.toString('utf8'));
}

/**
 * The WebGPU self-check's workers `page` starts from now on, each `{ url, closed }` (`closed` once it ended). Nested
 * workers reach playwright as the page's workers.
 */
export function trackCheckWorkers(page) {
  const started = [];
  page.on('worker', (worker) => {
    if (!/selfCheckWorker/.test(worker.url())) return;
    const entry = { url: worker.url(), closed: false };
    started.push(entry);
    worker.on('close', () => (entry.closed = true));
  });
  return started;
}

/** Waits up to 5 s for every worker `trackCheckWorkers` saw to end (the browser reports it shortly after). */
export async function checkWorkersClosed(started) {
  for (let i = 0; i < 50 && started.some((w) => !w.closed); i++) await new Promise((r) => setTimeout(r, 100));
  return started.every((w) => w.closed);
}
