// The playground end to end in headless Debian Chromium: the default model loads with visible progress, generates on
// the wasm CPU backend, shows the CLI's numbers for the same seeded run, scores text, survives a corrupted GGUF, and
// renders hostile token text as text. Run by `cargo xtask test`, which serves web/dist and sets E2E_BASE_URL,
// E2E_CHROMIUM and E2E_OUT. Screenshots go to E2E_OUT/screenshots. The modes are in modes.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  assertShown,
  baseUrl,
  cliEvents,
  exportedRun,
  hashOf,
  launch,
  LONG,
  modelPath,
  runToDone,
  shot as shotOf,
  visible,
} from './helpers.mjs';

let browser;
let page;

const shot = (name) => shotOf(page, name);

/** Opens the page with settings in the URL hash (on the wasm CPU backend) and waits until the default model is ready. */
async function openWithModel(hash = '') {
  await page.goto(`${baseUrl}#backend=cpu${hash ? '&' + hash : ''}`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
}

before(async () => {
  browser = await launch();
  page = browser.page;
});

after(async () => {
  await browser?.close();
});

test('the default model loads with visible progress', async () => {
  await page.goto(`${baseUrl}#backend=cpu`);
  assert.equal(await page.title(), 'tokscope');
  const progress = page.getByTestId('model-progress');
  await progress.waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => /Downloading/.test(document.querySelector('[data-testid=model-progress]')?.textContent ?? ''), null, {
    polling: 'raf',
    timeout: 60_000,
  });
  assert.ok(await page.locator('progress').count(), 'a progress bar is shown');
  await shot('model-loading');
  const facts = page.getByTestId('model-facts');
  await facts.waitFor({ timeout: LONG });
  const text = await facts.innerText();
  assert.match(text, /llama/);
  assert.match(text, /134\.5 M/); // parameters
  assert.match(text, /Q4_1×210/);
  assert.match(text, /49152/);
  assert.match(await page.getByTestId('backend').innerText(), /wasm cpu \(simd128/);
  await progress.waitFor({ state: 'detached' });
});

test('32 tokens generate on the wasm CPU backend', async () => {
  await openWithModel('mode=raw&prompt=Once%20upon%20a%20time&max_tokens=32&seed=3');
  await page.getByTestId('run').click();
  await page.getByTestId('run-status').filter({ hasText: /Done/ }).waitFor({ timeout: LONG });
  const status = await page.getByTestId('run-status').innerText();
  assert.match(status, /Done: 32 tokens \(length\)/);
  assert.equal(await page.getByTestId('token').count(), 32);
  const tokS = Number(/([\d.]+) tok\/s/.exec(status)?.[1]);
  assert.ok(tokS > 0, status);
  console.log(`# decode on the wasm CPU backend (headless Chromium, shared machine): ${tokS} tok/s`);
  await page.getByTestId('token').first().hover();
  await shot('generate');
});

test('wasm threads: an isolated page runs the CPU backend on threads with one thread’s numbers', async () => {
  const settings = { backend: 'cpu', mode: 'raw', prompt: 'Once upon a time', max_tokens: 24, seed: 5, top_n: 5 };
  const run = async (query, threads) => {
    await page.goto('about:blank');
    await page.goto(`${baseUrl}${query}#${hashOf({ ...settings, threads })}`);
    await page.getByTestId('model-facts').waitFor({ timeout: LONG });
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    const backend = await page.getByTestId('backend').innerText();
    const done = await runToDone(page);
    const { steps } = await exportedRun(page);
    return { isolated, backend, done, steps };
  };
  // As an ordinary static host serves it (no COOP/COEP): the single-threaded build, whatever the link asks.
  const single = await run('?isolation=off', 2);
  assert.equal(single.isolated, false);
  assert.match(single.backend, /, 1 thread\)/);
  // Cross-origin isolated (the xtask server's default): the threaded build.
  const threaded = await run('', 2);
  assert.equal(threaded.isolated, true);
  assert.match(threaded.backend, /, 2 threads\)/);
  assert.equal(threaded.steps.length, 24);
  assert.deepEqual(
    threaded.steps.map((s) => s.token.id),
    single.steps.map((s) => s.token.id),
  );
  threaded.steps.forEach((s, i) => {
    const one = single.steps[i];
    assert.ok(Math.abs(s.entropy - one.entropy) < 1e-6, `step ${i}: entropy ${s.entropy} vs ${one.entropy}`);
    assert.ok(Math.abs(s.logprob - one.logprob) < 1e-6, `step ${i}: logprob ${s.logprob} vs ${one.logprob}`);
  });
  console.log(
    `# wasm CPU decode, headless Chromium: 1 thread ${single.done.decode_tok_s.toFixed(1)} tok/s, ` +
      `2 threads ${threaded.done.decode_tok_s.toFixed(1)} tok/s`,
  );
});

test('a seeded run shows the CLI’s entropy and top-N for every step', async () => {
  const prompt = 'The capital of France is';
  const expected = cliEvents(['generate', '--prompt', prompt, '--max-tokens', '8', '--temperature', '0.8', '--top-k', '40', '--seed', '7', '--top', '5']).filter(
    (e) => e.type === 'step',
  );
  assert.equal(expected.length, 8);
  const hash = new URLSearchParams({ mode: 'raw', prompt, temperature: '0.8', top_k: '40', top_p: '1', seed: '7', max_tokens: '8', top_n: '5' });
  await openWithModel(hash.toString());
  await page.getByTestId('run').click();
  await page.getByTestId('run-status').filter({ hasText: /Done/ }).waitFor({ timeout: LONG });
  const tokens = page.getByTestId('token');
  assert.equal(await tokens.count(), 8);
  // Keyboard: focus the first token, then walk with the arrow key.
  await tokens.first().focus();
  for (const [i, step] of expected.entries()) {
    if (i > 0) await page.keyboard.press('ArrowRight');
    const detail = page.locator(`[data-testid=step-detail][data-index="${i}"]`);
    await detail.waitFor();
    assert.equal(await tokens.nth(i).textContent(), step.token.text, `token ${i}`);
    assertShown(await detail.getByTestId('detail-entropy').innerText(), step.entropy / Math.LN2, 3, `entropy of step ${i}`);
    assertShown(await detail.getByTestId('detail-prob').innerText(), 100 * Math.exp(step.logprob), 1, `probability of step ${i}`);
    const rows = detail.getByTestId('top-row');
    assert.equal(await rows.count(), step.top.length);
    for (const [j, top] of step.top.entries()) {
      const row = rows.nth(j);
      assert.equal(await row.getAttribute('data-id'), String(top.id), `top ${j} of step ${i}`);
      assert.equal(await row.getByTestId('top-text').textContent(), visible(top.text));
      assertShown(await row.getByTestId('top-prob').innerText(), 100 * Math.exp(top.logprob), 1, `top ${j} of step ${i}`);
      if (top.id === step.token.id) {
        const sampled = await row.getByTestId('top-sampled').innerText();
        assertShown(sampled, 100 * Math.exp(step.sampling.logprob), 1, `sampled probability of step ${i}`);
      }
    }
  }
  await shot('generate-seeded');
});

test('the score view shows real numbers and renders hostile token text as text', async () => {
  const text = 'Hello <img src=x onerror=alert(1)> world, this is a test.';
  const cliDone = cliEvents(['score', '--prompt', '', '--text', text]).find((e) => e.type === 'done');
  await page.getByTestId('tab-score').click();
  await page.getByTestId('score-text').fill(text);
  await page.getByTestId('score').click();
  const ppl = page.getByTestId('perplexity');
  await ppl.waitFor({ timeout: LONG });
  assertShown(await ppl.innerText(), cliDone.score.perplexity, 2, 'perplexity');
  assertShown(await page.getByTestId('min-k-pp').innerText(), cliDone.score.min_k_pp, 3, 'Min-K%++');
  assert.equal(await page.getByTestId('token').count(), cliDone.tokens);
  const shown = (await page.getByTestId('token').allTextContents()).join('');
  assert.ok(shown.includes('<img'), `token text shows the markup as text: ${shown}`);
  assert.equal(await page.locator('img').count(), 0, 'no <img> element was created');
  await page.getByTestId('score-surprisal').waitFor();
  await page.getByTestId('token').nth(2).hover();
  await shot('score');
  assert.deepEqual(browser.dialogs, []);
});

test('a corrupted GGUF gives a clear error and the page stays usable', async () => {
  await page.getByTestId('tab-generate').click();
  const head = readFileSync(modelPath).subarray(0, 1 << 20);
  await page.getByTestId('model-file').setInputFiles({ name: 'broken.gguf', mimeType: 'application/octet-stream', buffer: head });
  const error = page.getByTestId('model-error');
  await error.waitFor({ timeout: 60_000 });
  assert.match(await error.innerText(), /broken\.gguf: this file is not a model tokscope can run: .+/);
  await shot('corrupted-model');
  // Then the default model loads again (from the cache now) and runs.
  await page.getByRole('button', { name: 'Load default model' }).click();
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.equal(await error.count(), 0);
  await page.getByTestId('max-tokens').fill('4');
  await page.getByTestId('run').click();
  await page.getByTestId('run-status').filter({ hasText: /Done/ }).waitFor({ timeout: LONG });
  assert.ok((await page.getByTestId('token').count()) >= 1);
});

test('with the model cached, the first token comes soon after opening the page', async () => {
  await page.goto(`${baseUrl}#backend=cpu&mode=raw&prompt=Hello&max_tokens=2`);
  await page.reload(); // a new document: the hash alone does not reload the page
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.match(await page.getByTestId('model-facts').innerText(), /\(cache,/);
  await page.getByTestId('run').click();
  await page.getByTestId('token').first().waitFor({ timeout: LONG });
  const ms = await page.evaluate(() => performance.now());
  console.log(`# page open to first token, model cached: ${Math.round(ms)} ms`);
  assert.deepEqual(browser.consoleErrors, []);
});
