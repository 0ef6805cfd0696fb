// The page at its limits. A model whose chat template is hostile (two nested loops of 100,000 steps, stored in place of
// the default model's template, same length, so the file stays valid) loads with chat off, says why in the model bar
// and runs raw text: before bounded templates the first chat render froze the worker. A run that fills the context
// ends with stop "context" after as many tokens as the CLI's run with the same context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseUrl, cliEvents, launch, LONG, modelPath, runToDone, shot as shotOf } from './helpers.mjs';

let browser;
let page;

before(async () => {
  browser = await launch();
  page = browser.page;
});

after(async () => {
  await browser?.close();
});

/** The default model with its `tokenizer.chat_template` string overwritten, byte for byte, by `template` (padded). */
function withTemplate(template) {
  const bytes = Buffer.from(readFileSync(modelPath));
  const key = Buffer.from('tokenizer.chat_template');
  const at = bytes.indexOf(key);
  assert.ok(at > 0, 'the default model has a chat template');
  const typeAt = at + key.length;
  assert.equal(bytes.readUInt32LE(typeAt), 8, 'the template is a GGUF string');
  const len = Number(bytes.readBigUInt64LE(typeAt + 4));
  const body = Buffer.from(template);
  assert.ok(body.length <= len, 'the hostile template fits in place of the real one');
  bytes.fill(0x20, typeAt + 12, typeAt + 12 + len);
  body.copy(bytes, typeAt + 12);
  return bytes;
}

test('a model whose chat template loops for ever loads with chat off, says why, and runs raw text', async () => {
  await page.goto(`${baseUrl}#backend=cpu`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  const bomb = '{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}';
  // Through a file: playwright takes buffers of at most 50 MB.
  const dir = mkdtempSync(join(tmpdir(), 'tokscope-template-'));
  const file = join(dir, 'loop-template.gguf');
  writeFileSync(file, withTemplate(bomb));
  await page.getByTestId('model-file').setInputFiles(file);
  const note = page.getByTestId('chat-note');
  await note.waitFor({ timeout: LONG });
  assert.match(await note.innerText(), /out of fuel/);
  assert.ok(await page.locator('input[type=radio][value=chat]').first().isDisabled(), 'chat cannot be chosen');
  assert.ok(await page.locator('input[type=radio][value=raw]').first().isChecked(), 'the prompt switched to raw text');
  await shotOf(page, 'hostile-template');
  await page.getByTestId('max-tokens').fill('4');
  await runToDone(page);
  assert.ok((await page.getByTestId('token').count()) >= 1, 'the raw run wrote tokens');
  assert.deepEqual(browser.consoleErrors, []);
  rmSync(dir, { recursive: true, force: true });
});

test('a run that fills the context stops with "context" where the CLI stops', async () => {
  // 2031 prompt tokens in the page's 2048-token context leave 17 for the reply; greedy, so the CLI's run is the same.
  const prompt = 'The cat sat on the mat. '.repeat(290);
  const cli = cliEvents(['generate', '--prompt', prompt, '--ctx', '2048', '--max-tokens', '64', '--temperature', '0']);
  const cliDone = cli.at(-1);
  assert.equal(cliDone.stop, 'context', 'the CLI run fills its context');
  await page.goto(`${baseUrl}#backend=cpu&mode=raw&temperature=0&max_tokens=64`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  await page.getByTestId('prompt').fill(prompt);
  await runToDone(page);
  const status = await page.getByTestId('run-status').innerText();
  assert.match(status, new RegExp(`Done: ${cliDone.tokens} tokens \\(context\\)`), status);
  assert.equal(await page.getByTestId('token').count(), cliDone.tokens);
});
