// The model bar's models: the two `cargo xtask serve` lists (the default and Gemma 3 270M) load by a click, each
// file's architecture, formats and memory estimate show from its header before its weights are read, and a file whose
// header claims more than a wasm32 engine can hold is refused before loading (a sparse file on disk, so the test's
// 8 GiB file costs no disk space or memory).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseUrl, launch, LONG, shot as shotOf } from './helpers.mjs';

const SMOL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const GEMMA = 'gemma-3-270m.Q4_K_M.gguf';

let browser;
let page;
let dir;

before(async () => {
  browser = await launch();
  page = browser.page;
  dir = mkdtempSync(join(tmpdir(), 'tokscope-models-'));
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shot = (name) => shotOf(page, `models-${name}`);

/** A GGUF v3 header: `kv` of u32 or string values, `tensors` of F32 `dims`, data aligned to 32 bytes. */
function ggufHeader(kv, tensors) {
  const parts = [];
  const u32 = (n) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    parts.push(b);
  };
  const u64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    parts.push(b);
  };
  const str = (s) => {
    u64(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(tensors.length);
  u64(Object.keys(kv).length);
  for (const [key, value] of Object.entries(kv)) {
    str(key);
    if (typeof value === 'string') {
      u32(8);
      str(value);
    } else {
      u32(4);
      u32(value);
    }
  }
  let offset = 0n;
  for (const { name, dims } of tensors) {
    str(name);
    u32(dims.length);
    for (const d of dims) u64(d);
    u32(0); // F32
    u64(offset);
    const bytes = dims.reduce((a, d) => a * BigInt(d), 4n);
    offset += (bytes + 31n) & ~31n;
  }
  const header = Buffer.concat(parts);
  const dataOffset = Math.ceil(header.length / 32) * 32;
  return { header, dataOffset, dataBytes: offset };
}

test('the model bar lists both served models and reads a model\'s header before loading it', async () => {
  await page.goto(`${baseUrl}#backend=cpu&mode=raw`);
  const list = page.getByTestId('served-models');
  await list.waitFor({ timeout: 30_000 });
  const files = await list.locator('li').evaluateAll((items) => items.map((li) => li.getAttribute('data-file')));
  assert.deepEqual(files, [SMOL, GEMMA]);
  assert.match(await list.innerText(), /Gemma 3 270M Q4_K_M[\s\S]*Gemma Terms of Use/);

  // Gemma: its header is read (architecture, K-quant formats, memory) whatever the engine then makes of it.
  await page.getByTestId('model-facts').waitFor({ timeout: LONG }); // the default model loads on opening
  await page.getByRole('button', { name: 'Load Gemma 3 270M Q4_K_M' }).click();
  await page.getByTestId('model-architecture').filter({ hasText: 'gemma3' }).waitFor({ timeout: LONG });
  const formats = await page.getByTestId('model-formats').innerText();
  assert.match(formats, /Q4_K ×\d+ \(\d+%\)/);
  assert.match(formats, /Q6_K ×\d+/);
  const estimate = await page.getByTestId('memory-estimate').innerText();
  assert.match(estimate, /CPU \(wasm\): \d+(\.\d+)? MB in wasm memory \(weights \d+(\.\d+)? MB \+ KV cache [\d.]+ MB at 2048 positions/);
  assert.match(estimate, /WebGPU: \d+(\.\d+)? MB on the GPU/);
  assert.doesNotMatch(estimate, /too big/);
  // Then the engine runs it, or says clearly why it cannot (until it has gemma3 and K-quants).
  const outcome = await Promise.race([
    page.getByTestId('model-facts').waitFor({ timeout: LONG }).then(() => 'ready'),
    page.getByTestId('model-error').waitFor({ timeout: LONG }).then(() => 'error'),
  ]);
  if (outcome === 'error') {
    const error = await page.getByTestId('model-error').innerText();
    assert.match(error, /Could not load Gemma 3 270M Q4_K_M: this file is not a model tokscope can run: .*(gemma3|tokenizer|type)/);
    // The header's facts stay beside the error.
    assert.equal(await page.getByTestId('model-architecture').innerText(), 'gemma3');
  } else {
    assert.match(await page.getByTestId('model-facts').innerText(), /gemma3/);
  }
  await shot('gemma');

  // The default model from the list: loads (from the cache) and names its formats.
  await page.getByRole('button', { name: 'Load SmolLM2-135M-Instruct Q4_1 (default)' }).click();
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.match(await page.getByTestId('model-facts').innerText(), /\(cache,/);
  assert.equal(await page.getByTestId('model-architecture').innerText(), 'llama');
  assert.match(await page.getByTestId('model-formats').innerText(), /^Q4_1 ×\d+ \(\d+%\)/);
  assert.deepEqual(browser.consoleErrors, []);
});

test('a file whose header claims 8 GiB of weights is refused before loading, with the estimate', async () => {
  const { header, dataOffset, dataBytes } = ggufHeader(
    {
      'general.architecture': 'llama',
      'llama.block_count': 2,
      'llama.embedding_length': 65536,
      'llama.attention.head_count': 8,
      'llama.context_length': 2048,
    },
    [{ name: 'token_embd.weight', dims: [65536, 32768] }],
  );
  const path = join(dir, 'absurd.gguf');
  const fd = openSync(path, 'w');
  writeSync(fd, header);
  ftruncateSync(fd, dataOffset + Number(dataBytes)); // sparse: no data is written
  closeSync(fd);

  await page.getByTestId('model-file').setInputFiles(path);
  const error = page.getByTestId('model-error');
  await error.waitFor({ timeout: 60_000 });
  assert.match(
    await error.innerText(),
    /Could not load absurd\.gguf: this model needs about \d+\.\d\d GB in the wasm engine's memory on the CPU backend \(weights 8\.59 GB, KV cache .* at 2048 positions, .*more than the 4\.29 GB a wasm32 engine can address: it was not loaded/,
  );
  assert.match(await page.getByTestId('memory-estimate').innerText(), /CPU \(wasm\): \d+\.\d\d GB in wasm memory .*\(too big\)/);
  assert.equal(await page.getByTestId('model-architecture').innerText(), 'llama');
  await shot('refused');
  // The page stays usable: the default model loads again.
  await page.getByRole('button', { name: 'Load default model' }).click();
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.equal(await error.count(), 0);
});
