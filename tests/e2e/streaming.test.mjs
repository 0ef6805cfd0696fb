// Loading reads the model's Blob slice by slice: the model bar shows the engine's reading with real byte counts,
// WebGPU never holds the file in wasm memory (the worker's wasm memory after the load, its peak since memory only
// grows, stays below the file's size, while the WebGPU self-check reads the file in a worker of its own that is gone
// once the model is ready), the CPU backend holds it once, moving the model from WebGPU to the CPU reads
// the Blob again and runs, and a file cut inside its tensor data or with a hostile header count is refused with
// its reason. Run by `cargo xtask test` like page.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { baseUrl, checkWorkersClosed, launch, LONG, modelPath, runToDone, shot, trackCheckWorkers } from './helpers.mjs';

let browser;
let page;
/** The self-check's workers the page started. */
let checkWorkers;

const fileBytes = statSync(modelPath).size;

/** Keeps the worker's wasm instance memory on `self.__wasmMemory` (prefixed to the worker script as served). */
const MEMORY_HOOK = `{const i=WebAssembly.instantiate;WebAssembly.instantiate=async(...a)=>{const r=await i(...a);self.__wasmMemory=(r.instance??r).exports.memory;return r};
const s=WebAssembly.instantiateStreaming;if(s)WebAssembly.instantiateStreaming=async(...a)=>{const r=await s(...a);self.__wasmMemory=r.instance.exports.memory;return r};}\n`;

before(async () => {
  browser = await launch();
  page = browser.page;
  checkWorkers = trackCheckWorkers(page);
  await browser.context.route(/\/worker[^/]*\.js$/, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: MEMORY_HOOK + (await response.text()) });
  });
  // Every text the model bar's progress shows, in order (the engine's reading can take well under a second).
  await page.addInitScript(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid=model-progress]')?.textContent;
      if (text && text !== window.__progress.at(-1)) window.__progress.push(text);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
});

after(async () => {
  await browser?.close();
});

/** Opens the page on `backend` and waits for the model; gives back the worker's wasm memory in bytes. */
async function loadOn(backend) {
  await page.goto('about:blank');
  await page.goto(`${baseUrl}#backend=${backend}&mode=raw&prompt=Hello&max_tokens=4&temperature=0&seed=1`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  return wasmMemory();
}

async function wasmMemory() {
  const [worker] = page.workers();
  return worker.evaluate(() => self.__wasmMemory.buffer.byteLength);
}

/** MB as the model bar writes them. */
const mb = (text) => Number(text) * 1e6;

test('the model bar shows the engine reading the file with real byte counts', async () => {
  await loadOn('cpu');
  const texts = await page.evaluate(() => window.__progress);
  assert.ok(texts.some((t) => /Reading the model header/.test(t)), `a header phase: ${JSON.stringify(texts)}`);
  const reads = texts
    .map((t) => /Reading the weights into memory.*?([\d.]+) MB\s*\/\s*([\d.]+) MB/.exec(t))
    .filter(Boolean)
    .map((m) => [mb(m[1]), mb(m[2])]);
  assert.ok(reads.length >= 2, `progress while reading: ${JSON.stringify(texts)}`);
  for (const [, total] of reads) assert.ok(Math.abs(total - fileBytes) <= 0.05e6, `total ${total} vs ${fileBytes}`);
  for (let i = 1; i < reads.length; i++) assert.ok(reads[i][0] >= reads[i - 1][0], 'read bytes never go back');
  assert.ok(reads.some(([loaded]) => loaded > 0 && loaded < fileBytes - 1e6), `a partial read was shown: ${JSON.stringify(reads)}`);
});

test('WebGPU never holds the file in wasm memory; the CPU holds it once; switching reads the Blob again', async () => {
  const cpu = await loadOn('cpu');
  assert.equal(checkWorkers.length, 0, 'no self-check on the CPU');
  const gpu = await loadOn('webgpu');
  assert.match(await page.getByTestId('backend').innerText(), /^webgpu/);
  assert.equal(await page.getByTestId('self-check').getAttribute('data-passed'), 'true', 'the self-check ran and passed');
  assert.equal(checkWorkers.length, 1, `the self-check ran in a worker of its own: ${JSON.stringify(checkWorkers)}`);
  assert.ok(await checkWorkersClosed(checkWorkers), 'and the worker was ended, its memory with it');
  const uploads = (await page.evaluate(() => window.__progress)).filter((t) => /Uploading the weights to the GPU/.test(t));
  assert.ok(uploads.length >= 2, `the upload shows its own progress: ${JSON.stringify(uploads)}`);
  console.log(
    `# worker wasm memory after loading the ${(fileBytes / 2 ** 20).toFixed(1)} MiB model: ` +
      `cpu ${(cpu / 2 ** 20).toFixed(1)} MiB, webgpu ${(gpu / 2 ** 20).toFixed(1)} MiB`,
  );
  assert.ok(gpu < fileBytes, `WebGPU load: ${gpu} bytes of wasm memory for a ${fileBytes}-byte file`);
  assert.ok(cpu > fileBytes && cpu < 1.5 * fileBytes, `CPU load: ${cpu} bytes of wasm memory for a ${fileBytes}-byte file`);
  const onGpu = await runToDone(page);
  await page.getByTestId('backend-select').selectOption('cpu');
  await page.getByTestId('backend').filter({ hasText: /^wasm cpu/ }).waitFor({ timeout: LONG });
  const onCpu = await runToDone(page);
  assert.equal(onCpu.text, onGpu.text, 'greedy text is the same after the switch');
  assert.ok((await wasmMemory()) < gpu + 1.5 * fileBytes, 'the CPU copy is read once');
});

/** Drops `bytes` as a file named `name` and gives back the model bar's error. */
async function dropBroken(name, bytes) {
  await page.getByTestId('model-file').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: bytes });
  const error = page.getByTestId('model-error');
  await error.waitFor({ timeout: 60_000 });
  return error.innerText();
}

test('a file cut inside its tensor data and a hostile header count are refused with their reasons', async () => {
  await loadOn('webgpu');
  const model = readFileSync(modelPath);
  const cut = await dropBroken('cut.gguf', model.subarray(0, 40 << 20));
  assert.match(cut, /cut\.gguf: this file is not a model tokscope can run: .*runs past the end of the 41943040-byte file/);
  // The first metadata value's array count (a u64 at byte 24 + key + type) set far past the file's size.
  const hostile = Buffer.from(model.subarray(0, 1 << 20));
  const keyLength = Number(hostile.readBigUInt64LE(24));
  const valueType = hostile.readUInt32LE(32 + keyLength);
  assert.equal(valueType, 8, 'the first value is a string'); // general.architecture
  hostile.writeBigUInt64LE(1n << 40n, 36 + keyLength);
  const refused = await dropBroken('hostile.gguf', hostile);
  assert.match(refused, /hostile\.gguf: this file is not a model tokscope can run: .*larger than the rest of the file/);
  await shot(page, 'hostile-model');
  assert.deepEqual(browser.consoleErrors, []);
});
