// Hostile inputs to the page itself: the engine panicking or running out of memory mid-run (made to, through the
// test-only hook behind `?test=faults`), and URL state naming keys every object inherits. The page must say what
// happened, replace the engine, load the model again and run the next request as if nothing had happened. Run by
// `cargo xtask test` like page.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { baseUrl, launch, LONG, openFresh, runToDone, shot } from './helpers.mjs';

let browser;
let page;

before(async () => {
  browser = await launch();
  page = browser.page;
});

after(async () => {
  await browser?.close();
});

const SETTINGS = { backend: 'cpu', mode: 'raw', prompt: 'The capital of France is', max_tokens: 6, temperature: 0, seed: 1 };

/** Arms `kind` in the engine, starts a run, and checks the page's account of the crash and its recovery. */
async function crashAndRecover(kind, pattern) {
  await openFresh(page, SETTINGS, 'test=faults');
  const before = await runToDone(page);
  assert.equal(before.tokens, 6);
  await page.evaluate((k) => window.tokscopeTest.fault(k), kind);
  await page.getByTestId('run').click();
  const runError = page.getByTestId('run-error');
  await runError.waitFor({ timeout: LONG });
  assert.match(await runError.innerText(), pattern, 'the run says why it ended');
  // A fresh engine loads the model again (from the browser's cache) and says what happened.
  const crash = page.getByTestId('engine-crash');
  await crash.filter({ hasText: 'the model loaded again' }).waitFor({ timeout: LONG });
  assert.match(await crash.innerText(), pattern);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.match(await page.getByTestId('model-facts').innerText(), /\(cache, \d+ ms\)/, 'reloaded from the cache');
  await shot(page, `recovered-after-${kind}`);
  // The new engine runs, with the same numbers as before the crash.
  const after = await runToDone(page);
  assert.equal(after.tokens, 6);
  assert.equal(after.text, before.text);
  assert.equal(await page.getByTestId('run-error').count(), 0, 'the next run has no error');
}

test('a panic in the engine ends only its run: a fresh engine reloads the model and runs', async () => {
  await crashAndRecover('panic', /internal error in the engine: .*a deliberate panic \(the page's test hook\)/s);
});

test('running out of memory in the engine ends only its run, and says so', async () => {
  await crashAndRecover('oom', /the engine ran out of memory: 1024 MiB more could not be allocated with \d+ MiB in use/);
});

test('without the test flag the page offers no way to break the engine', async () => {
  await openFresh(page, SETTINGS);
  assert.equal(await page.evaluate(() => typeof window.tokscopeTest), 'undefined');
});

test('URL state takes only its own keys: toString, constructor and __proto__ are ignored', async () => {
  const hash = 'toString=x&constructor=y&__proto__=z&hasOwnProperty=1&valueOf=2&backend=cpu&mode=raw&prompt=Kept&max_tokens=3&temperature=0';
  browser.consoleErrors.length = 0;
  await page.goto('about:blank');
  await page.goto(`${baseUrl}#${hash}`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.equal(await page.getByTestId('prompt').inputValue(), 'Kept');
  const done = await runToDone(page);
  assert.equal(done.tokens, 3);
  // The page rewrites the hash from its settings: none of the inherited names survive.
  const kept = new URLSearchParams(new URL(page.url()).hash.slice(1));
  for (const key of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) assert.equal(kept.has(key), false, key);
  assert.deepEqual(browser.consoleErrors, []);
});
