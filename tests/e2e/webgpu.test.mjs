// The engine's WGSL kernels in the browser: headless Chromium's WebGPU (SwiftShader here) through the wasm build,
// checked against the native CLI on the CPU backend for the same seeded run; and the choice of backend ("auto" keeps
// a software adapter for explicit requests only). Run by `cargo xtask test` like page.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkWorkersClosed, cliEvents, exportedRun, launch, LONG, openFresh, runToDone, shot, trackCheckWorkers } from './helpers.mjs';

let browser;
let page;
/** The self-check's workers the page started. */
let checkWorkers;

before(async () => {
  browser = await launch();
  page = browser.page;
  checkWorkers = trackCheckWorkers(page);
});

after(async () => {
  await browser?.close();
});

/** The model bar's self-check: its verdict and the numbers it shows. */
async function selfCheck(page) {
  const row = page.getByTestId('self-check');
  const text = await row.innerText();
  const [, kl, agree, of, positions, ms] = text.match(/KL (\S+) nats, top-1 (\d+)\/(\d+) \((\d+) positions, \+(\d+) ms to the load\)/) ?? [];
  return {
    passed: await row.getAttribute('data-passed'),
    text,
    kl: Number(kl),
    top1Agree: Number(agree),
    top1Of: Number(of),
    positions: Number(positions),
    ms: Number(ms),
  };
}

/** log-probability of `id` in a step's top list, if it is there. */
function topLogprob(step, id) {
  return step.top.find((t) => t.id === id)?.logprob;
}

test('32 tokens generate on WebGPU with the CPU backend’s distributions', async () => {
  const prompt = 'Once upon a time';
  const argv = ['--prompt', prompt, '--max-tokens', '32', '--temperature', '0.8', '--top-k', '40', '--seed', '3', '--top', '5'];
  const expected = cliEvents(['generate', ...argv]).filter((e) => e.type === 'step');
  assert.equal(expected.length, 32);
  await openFresh(page, { backend: 'webgpu', mode: 'raw', prompt, max_tokens: 32, temperature: 0.8, top_k: 40, top_p: 1, seed: 3, top_n: 5 });
  const backend = await page.getByTestId('backend').innerText();
  assert.match(backend, /^webgpu/, `the model runs on WebGPU: ${backend}`);
  // Every WebGPU load checks the GPU against the CPU backend first, SwiftShader included.
  const check = await selfCheck(page);
  assert.equal(check.passed, 'true', `SwiftShader agrees with the CPU: ${check.text}`);
  assert.ok(check.kl >= 0 && check.kl < 1e-4, `the model bar shows the KL: ${check.text}`);
  assert.equal(check.top1Agree, check.top1Of, `and top-1 agreement: ${check.text}`);
  assert.ok(check.top1Of >= 4 && check.positions === 8, check.text);
  // The worker asks for the device's subgroups itself (wgpu cannot in the browser); SwiftShader has them.
  assert.match(backend, /subgroups/, `the kernels use the adapter's subgroups: ${backend}`);
  const done = await runToDone(page);
  assert.equal(done.tokens, 32);
  assert.equal(done.stop, 'length');
  console.log(`# WebGPU in headless Chromium (${await page.getByTestId('webgpu').innerText()}): ${done.decode_tok_s.toFixed(2)} tok/s decode`);
  const { steps } = await exportedRun(page);
  assert.equal(steps.length, 32);
  for (const [i, want] of expected.entries()) {
    const got = steps[i];
    assert.equal(got.token.id, want.token.id, `token ${i}`);
    assert.ok(Math.abs(got.entropy - want.entropy) < 1e-3, `entropy of step ${i}: ${got.entropy} vs ${want.entropy}`);
    assert.ok(Math.abs(got.logprob - want.logprob) < 1e-3, `logprob of step ${i}: ${got.logprob} vs ${want.logprob}`);
    // Top-1 is the same wherever the CPU's margin to the runner-up is clear; every shared entry agrees.
    if (want.top[0].logprob - want.top[1].logprob > 1e-3) assert.equal(got.top[0].id, want.top[0].id, `top-1 of step ${i}`);
    for (const t of want.top) {
      const lp = topLogprob(got, t.id);
      if (lp !== undefined) assert.ok(Math.abs(lp - t.logprob) < 1e-3, `top entry ${t.id} of step ${i}`);
    }
  }
  await shot(page, 'generate-webgpu');
});

test('auto keeps the wasm CPU backend on a software WebGPU adapter and says why; switching moves the model', async () => {
  await openFresh(page, { backend: 'auto', mode: 'raw', prompt: 'Hello', max_tokens: 4, temperature: 0, seed: 1 });
  const webgpu = await page.getByTestId('webgpu').innerText();
  assert.match(webgpu, /swiftshader/i, `headless Chromium offers SwiftShader: ${webgpu}`);
  assert.match(await page.getByTestId('backend').innerText(), /^wasm cpu/);
  assert.match(await page.getByTestId('backend-note').innerText(), /runs on the CPU/);
  assert.equal((await selfCheck(page)).passed, 'none', 'the model bar says no check ran yet');
  const cpu = await runToDone(page);
  const started = checkWorkers.length;
  await page.getByTestId('backend-select').selectOption('webgpu');
  // The switch runs the self-check (the first WebGPU run's shader compilation included).
  await page.getByTestId('backend').filter({ hasText: /^webgpu/ }).waitFor({ timeout: LONG });
  const check = await selfCheck(page);
  assert.equal(check.passed, 'true', `moving to WebGPU checks it: ${check.text}`);
  assert.ok(check.kl < 1e-4, check.text);
  assert.equal(checkWorkers.length, started + 1, 'in a worker of its own');
  const gpu = await runToDone(page);
  assert.equal(gpu.text, cpu.text, 'greedy text is the same on both backends');
  // Back to the CPU and to WebGPU again: the GPU is checked again, against the CPU side computed before.
  await page.getByTestId('backend-select').selectOption('cpu');
  await page.getByTestId('backend').filter({ hasText: /^wasm cpu/ }).waitFor({ timeout: LONG });
  assert.equal((await selfCheck(page)).passed, 'true', 'the model bar keeps the last check');
  await page.getByTestId('backend-select').selectOption('webgpu');
  await page.getByTestId('backend').filter({ hasText: /^webgpu/ }).waitFor({ timeout: LONG });
  assert.equal((await selfCheck(page)).passed, 'true');
  assert.equal(checkWorkers.length, started + 1, 'no second worker for the same model');
});

test('a WebGPU kernel that disagrees with the CPU keeps the model on the CPU, and the model bar says why', async () => {
  // `test=wrong-kernel`: the embedding kernel reads each token's neighbour's row (a stand-in for a driver bug).
  await openFresh(page, { backend: 'webgpu', mode: 'raw', prompt: 'Hello', max_tokens: 4, temperature: 0, seed: 1 }, 'test=wrong-kernel');
  assert.match(await page.getByTestId('backend').innerText(), /^wasm cpu/, 'the model stays on the CPU');
  const note = await page.getByTestId('backend-note').innerText();
  assert.match(note, /WebGPU disagreed with the CPU backend in the self-check, so the model runs on the CPU/);
  const [, kl, dlogprob] = note.match(/KL (\S+) nats, top-20 \|Δlogprob\| (\S+) \(limit 0\.01\)/) ?? [];
  assert.ok(Number(kl) > 1e-3, `the note gives the KL: ${note}`);
  assert.ok(Number(dlogprob) > 0.01, `and the logprob difference beyond the limit: ${note}`);
  const check = page.getByTestId('self-check');
  assert.equal(await check.getAttribute('data-passed'), 'false');
  assert.match(await check.innerText(), /differs from the CPU: KL \S+ nats/);
  await shot(page, 'self-check-failed');
  const done = await runToDone(page);
  assert.equal(done.tokens, 4, 'the model runs on the CPU');
});

test('a self-check whose own worker runs out of memory leaves the model on WebGPU, and the model bar says so', async () => {
  // `test=check-oom`: the check's worker allocates until its wasm memory is exhausted, as a real OOM would.
  const started = checkWorkers.length;
  const errors = browser.consoleErrors.length;
  await openFresh(page, { backend: 'webgpu', mode: 'raw', prompt: 'Hello', max_tokens: 4, temperature: 0, seed: 1 }, 'test=check-oom');
  assert.match(await page.getByTestId('backend').innerText(), /^webgpu/, 'the model stays on WebGPU');
  const check = page.getByTestId('self-check');
  assert.equal(await check.getAttribute('data-passed'), 'unknown');
  assert.match(await check.innerText(), /could not run, so WebGPU runs unchecked: its CPU side could not run: .*ran out of memory/);
  assert.equal(await page.getByTestId('model-error').count(), 0, 'the load did not fail');
  assert.equal(checkWorkers.length, started + 1, 'the check ran in a worker of its own');
  assert.ok(await checkWorkersClosed(checkWorkers), 'which was ended');
  const done = await runToDone(page);
  assert.equal(done.tokens, 4, 'the model runs on WebGPU');
  assert.deepEqual(browser.consoleErrors.slice(errors), [], 'no console errors');
});
