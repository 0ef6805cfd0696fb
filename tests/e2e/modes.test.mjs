// The page's modes end to end in headless Debian Chromium, on the wasm CPU backend with the default model: speculate
// (n-gram drafts, lanes, the summary against the done event, greedy speculation = greedy generation; multi-draft
// K-SEQ against the CLI, the lanes' export), keyboard navigation of a timeline, compare
// (per-step KL and JS against the CLI; identical conditions give 0), branch (a fork from a top-N candidate, M
// samples), stop and step-by-step, exports (JSON, CSV, chart SVG and PNG with hostile token text) and links that
// restore a mode, its settings, the presenter and a step. Runs are short (6 to 16 tokens) to keep CI quick.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertShown,
  baseUrl,
  cliEvents,
  download,
  exportedRun,
  hashOf,
  launch,
  LONG,
  openFresh,
  runToDone,
  shot as shotOf,
  shownDone,
  shownSteps,
  startRun,
  visible,
  waitDone,
} from './helpers.mjs';

let browser;
let page;

const shot = (name) => shotOf(page, name);

/** A prompt that repeats itself, so prompt-lookup (n-gram) drafts find matches. */
const REPEAT = 'one two three four five one two three four five one two three four five one two three';

const ids = (steps) => steps.map((s) => s.token.id);
const stepsOf = (events) => events.filter((e) => e.type === 'step');
const doneOf = (events) => events.find((e) => e.type === 'done');

function assertClose(actual, expected, tolerance, what) {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} (± ${tolerance})`);
}

/** Focuses the token of step `i` in the stream and waits until the step's detail shows it. */
async function focusStep(i) {
  await page.getByTestId('token').nth(i).focus();
  await page.locator(`[data-testid=step-detail][data-index="${i}"]`).waitFor();
}

/** RFC 4180 CSV (quoted fields may hold commas, quotes and line breaks), written here apart from web/src. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
    else field += c;
  }
  assert.equal(field, '', 'the CSV ends with a line break');
  return rows;
}

/** Text escaped as an XML text node must be (written here apart from web/src). */
const xmlText = (text) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

before(async () => {
  browser = await launch();
  page = browser.page;
});

after(async () => {
  await browser?.close();
});

test('speculate: n-gram drafts on a repetitive prompt; the summary is the done event; greedy speculation writes the greedy text', async () => {
  await openFresh(page, { view: 'speculate', backend: 'cpu', mode: 'raw', prompt: REPEAT, temperature: 0, max_tokens: 16, drafter: 'ngram', gamma: 4 });
  assert.equal(await page.getByTestId('tab-speculate').getAttribute('aria-selected'), 'true');
  assert.equal(await page.getByTestId('prompt-panel').getAttribute('data-mode'), 'speculate');
  await page.getByTestId('speculate-settings').waitFor();
  assert.equal(await page.getByTestId('drafter').inputValue(), 'ngram');
  assert.equal(await page.getByTestId('gamma').inputValue(), '4');

  const done = await runToDone(page);
  await page.locator('[data-testid=spec-summary][data-final=true]').waitFor();
  assert.equal(await page.getByTestId('token-stream').getAttribute('data-kind'), 'speculate');
  const spec = done.spec;
  assert.ok(spec, `a speculate run's done event has spec: ${JSON.stringify(done)}`);
  assert.equal(spec.drafter, 'ngram');
  assert.equal(spec.gamma, 4);
  assert.equal(done.stop, 'length');
  assert.equal(done.tokens, 16);

  // The rates are what their definitions say, in range, and the summary shows them.
  assert.ok(spec.acceptance_rate >= 0 && spec.acceptance_rate <= 1, `acceptance rate ${spec.acceptance_rate}`);
  assert.ok(spec.tokens_per_call >= 1, `tokens per call ${spec.tokens_per_call}`);
  assertClose(spec.acceptance_rate, spec.n_accepted / spec.n_drafted, 1e-12, 'acceptance rate = accepted / drafted');
  assertClose(spec.tokens_per_call, done.tokens / spec.target_calls, 1e-12, 'tokens per call = tokens / target calls');
  assertShown(await page.getByTestId('spec-acceptance-rate').innerText(), 100 * spec.acceptance_rate, 1, 'acceptance rate (%)');
  assertShown(await page.getByTestId('spec-tokens-per-call').innerText(), spec.tokens_per_call, 2, 'tokens per call');
  assertShown(await page.getByTestId('spec-beta').innerText(), spec.mean_beta, 3, 'mean β');
  assert.equal(await page.getByTestId('spec-calls').innerText(), String(spec.target_calls));
  // The prompt repeats itself: the drafter finds it and the target keeps some drafts.
  assert.ok(spec.n_accepted > 0 && spec.tokens_per_call > 1, `n-gram drafts were kept: ${JSON.stringify(spec)}`);

  // One lane per target call, in order; the cells by outcome add up to the summary's counts.
  const lanes = page.getByTestId('spec-lane');
  assert.equal(await lanes.count(), spec.target_calls);
  assert.deepEqual(
    await lanes.evaluateAll((ls) => ls.map((l) => Number(l.dataset.round))),
    Array.from({ length: spec.target_calls }, (_, i) => i),
  );
  const kinds = await lanes.evaluateAll((ls) => ls.map((l) => [...l.querySelectorAll('[data-testid=spec-cell]')].map((c) => c.dataset.kind)));
  const count = (kind) => kinds.flat().filter((k) => k === kind).length;
  assert.equal(count('accepted'), spec.n_accepted);
  assert.equal(count('accepted') + count('rejected') + count('skipped'), spec.n_drafted);
  assert.equal(count('accepted') + count('resampled') + count('bonus'), done.tokens);
  for (const [round, lane] of kinds.entries()) {
    assert.ok(lane.filter((k) => k === 'resampled' || k === 'bonus').length <= 1, `call ${round + 1} draws at most one token itself: ${lane}`);
  }
  await page.getByTestId('spec-qp').waitFor();
  await page.getByTestId('spec-acceptance-by-position').waitFor();
  await page.getByTestId('timeline-acceptance').waitFor();

  // The first token's detail names where it came from: the first draft the target kept, else its own draw.
  await focusStep(0);
  const firstKind = kinds[0].find((k) => k !== 'rejected' && k !== 'skipped');
  assert.equal(await page.getByTestId('detail-spec').innerText(), `${firstKind}, call 1`);
  await shot('speculate');

  // Greedy speculation keeps the target's greedy tokens: the same text as a greedy generate run, on the page and
  // in the CLI.
  const specTokens = await page.getByTestId('token').allTextContents();
  assert.equal(specTokens.length, 16);
  await page.getByTestId('tab-generate').click();
  const plain = await runToDone(page);
  assert.equal(plain.text, done.text);
  assert.deepEqual(await page.getByTestId('token').allTextContents(), specTokens);
  const cli = doneOf(cliEvents(['generate', '--prompt', REPEAT, '--temperature', '0', '--max-tokens', '16']));
  assert.equal(done.text, cli.text);
});

test('multi-draft speculation: K = 2 early-exit drafts show their candidates and K-SEQ checks; the run and its means per position are the CLI’s', async () => {
  const prompt = 'The capital of France is';
  const settings = { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 11, max_tokens: 10, gamma: 3, layers: 20, drafts: 2 };
  await openFresh(page, { view: 'speculate', backend: 'cpu', mode: 'raw', prompt, drafter: 'early-exit', top_n: 3, ...settings });
  assert.equal(await page.getByTestId('drafts').inputValue(), '2');
  const done = await runToDone(page);
  await page.locator('[data-testid=spec-summary][data-final=true]').waitFor();
  const cliRun = cliEvents([
    'speculate', '--prompt', prompt, '--drafter', 'early-exit', '--exit-layer', '20', '--drafts', '2', '--gamma', '3',
    '--temperature', '0.8', '--top-k', '40', '--top-p', '0.95', '--seed', '11', '--max-tokens', '10', '--top', '3',
  ]);
  const cli = doneOf(cliRun);
  const cliSteps = stepsOf(cliRun);
  const m = done.spec?.multi;
  assert.ok(m && cli.spec.multi, `both runs are multi-draft: ${JSON.stringify(done.spec)}`);

  // The same tokens, the same counts, and the same means (the page's wasm CPU and the native CPU agree to 1e-3).
  const run = await exportedRun(page);
  assert.deepEqual(ids(run.steps), ids(cliSteps));
  assert.equal(done.text, cli.text);
  for (const key of ['drafts', 'n_candidates', 'target_forwards']) assert.equal(m[key], cli.spec.multi[key], key);
  for (const key of ['target_calls', 'n_drafted', 'n_accepted']) assert.equal(done.spec[key], cli.spec[key], key);
  assertClose(m.mean_kseq_accept, cli.spec.multi.mean_kseq_accept, 1e-3, 'mean K-SEQ acceptance');
  assertClose(m.mean_optimal, cli.spec.multi.mean_optimal, 1e-3, 'mean optimal bound');
  for (const key of ['kseq_accept_by_position', 'optimal_by_position', 'candidates_by_position']) {
    assert.equal(m[key].length, cli.spec.multi[key].length, key);
    m[key].forEach((x, i) => assertClose(x, cli.spec.multi[key][i], 1e-3, `${key}[${i}]`));
  }
  // Each step was decided by the same check: the same candidates with the same outcomes.
  const checks = (steps) => steps.map((s) => s.spec.multi?.candidates.map((c) => [c.draft, c.id, c.outcome]) ?? null);
  assert.deepEqual(checks(run.steps), checks(cliSteps));

  // The summary and the table per position show done's means.
  assert.equal(await page.getByTestId('spec-k').innerText(), '2');
  assertShown(await page.getByTestId('spec-kseq').innerText(), 100 * m.mean_kseq_accept, 1, 'mean K-SEQ acceptance (%)');
  assertShown(await page.getByTestId('spec-optimal').innerText(), 100 * m.mean_optimal, 1, 'mean optimal bound (%)');
  await page.locator('[data-testid=spec-multi-positions][data-final=true]').waitFor();
  const rows = await page.getByTestId('spec-multi-position').evaluateAll((rs) => rs.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  assert.equal(rows.length, m.kseq_accept_by_position.length);
  for (const [i, [position, , kseq, optimal, candidates]] of rows.entries()) {
    assert.equal(position, String(i + 1));
    assertShown(kseq, 100 * m.kseq_accept_by_position[i], 1, `K-SEQ acceptance at position ${i + 1}`);
    assertShown(optimal, 100 * m.optimal_by_position[i], 1, `optimal bound at position ${i + 1}`);
    assertShown(candidates, m.candidates_by_position[i], 2, `candidates at position ${i + 1}`);
  }

  // A column per token; in it, the candidates checked there with their outcomes.
  assert.equal(await page.getByTestId('spec-column').count(), done.tokens);
  const shownOutcomes = await page.getByTestId('spec-column').evaluateAll((cs) =>
    cs.map((c) => [...c.querySelectorAll('[data-testid=spec-candidate]')].map((x) => [Number(x.dataset.draft), x.dataset.outcome])),
  );
  assert.deepEqual(
    shownOutcomes,
    run.steps.map((s) => (s.spec.multi?.candidates ?? []).map((c) => [c.draft, c.outcome])),
  );
  // Step 0 was decided at draft position 0 with both candidates in play: its check shows them, ρ and β.
  await focusStep(0);
  const first = run.steps[0].spec.multi;
  await page.locator('[data-testid=spec-multi-check][data-index="0"]').waitFor();
  assert.equal(first.candidates.length, 2);
  assert.deepEqual(await page.getByTestId('check-candidate').evaluateAll((rs) => rs.map((r) => r.dataset.outcome)), first.candidates.map((c) => c.outcome));
  assertShown(await page.getByTestId('check-rho').innerText(), first.rho, 3, 'ρ*');
  assertShown(await page.getByTestId('check-beta').innerText(), first.beta, 3, 'β');
  assertShown(await page.getByTestId('check-kseq').innerText(), 100 * first.kseq_accept, 1, 'K-SEQ acceptance (%)');
  assertShown(await page.getByTestId('check-optimal').innerText(), 100 * first.optimal, 1, 'optimal bound (%)');
  await shot('speculate-multi');

  // The lanes export as an SVG file with every candidate's text, and as a PNG.
  const header = page.getByTestId('spec-lanes-header');
  const svg = (await download(page, header.getByTestId('export-svg'))).bytes.toString('utf8');
  const parsed = await page.evaluate((t) => {
    const doc = new DOMParser().parseFromString(t, 'image/svg+xml');
    return {
      error: doc.getElementsByTagName('parsererror')[0]?.textContent ?? null,
      root: doc.documentElement.localName,
      texts: [...doc.getElementsByTagName('text')].map((e) => e.textContent),
    };
  }, svg);
  assert.equal(parsed.error, null, 'the lanes SVG parses as XML');
  assert.equal(parsed.root, 'svg');
  for (const s of run.steps) {
    for (const c of s.spec.multi?.candidates ?? []) assert.ok(parsed.texts.includes(visible(c.text)), `candidate "${c.text}" is in the SVG`);
  }
  const png = await download(page, header.getByTestId('export-png'));
  assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
});

test('timelines: the keyboard moves between steps, selecting them in the token stream, and reads the value', async () => {
  await openFresh(page, { backend: 'cpu', mode: 'raw', prompt: 'The quick brown fox', temperature: 0.8, seed: 5, max_tokens: 6 });
  await runToDone(page);
  const run = await exportedRun(page);
  const timeline = page.getByTestId('timeline-entropy');
  const plot = timeline.getByTestId('timeline-plot');
  // Reached with Tab from the chart's export buttons, as a keyboard user would.
  await timeline.getByTestId('export-png').focus();
  await page.keyboard.press('Tab');
  assert.ok(await plot.evaluate((e) => e === document.activeElement && e.matches(':focus-visible')), 'the plot has the keyboard focus');
  assert.equal(await plot.evaluate((e) => getComputedStyle(e).outlineStyle), 'solid', 'a visible focus ring');

  const selected = async (i) => {
    await page.locator(`[data-testid=step-detail][data-index="${i}"]`).waitFor();
    assert.equal(await page.getByTestId('token').nth(i).getAttribute('aria-selected'), 'true', `token ${i} is selected in the stream`);
    assert.equal(await plot.getAttribute('aria-valuenow'), String(i));
    const bits = (run.steps[i].entropy / Math.LN2).toFixed(3);
    const label = await plot.getAttribute('aria-label');
    assert.ok(label.startsWith(`entropy (bits): step ${i} of ${run.steps.length}: raw ${bits}`), label);
  };
  await page.keyboard.press('Home');
  await selected(0);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await selected(2);
  await page.keyboard.press('ArrowLeft');
  await selected(1);
  await page.keyboard.press('End');
  await selected(run.steps.length - 1);
  // Another timeline follows the same step.
  assert.equal(await page.getByTestId('timeline-plot').nth(1).getAttribute('aria-valuenow'), String(run.steps.length - 1));
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('[data-testid=token][aria-selected=true]'));
  assert.match(await plot.getAttribute('aria-label'), /no step selected/);
});

test('compare: per-step KL and JS of two prompts are the CLI’s, JS ≤ ln 2; the same prompt twice gives KL 0', async () => {
  const a = 'The capital of France is';
  const b = 'The capital of Germany is';
  await openFresh(page, { view: 'compare', backend: 'cpu', mode: 'raw', prompt: a, b_mode: 'raw', b_prompt: b, cmp: 'a', temperature: 0, max_tokens: 8, top_n: 5 });
  await page.getByTestId('compare-settings').waitFor();
  assert.equal(await page.getByTestId('prompt-b').inputValue(), b);
  assert.equal(await page.getByTestId('compare-mode-select').inputValue(), 'a');

  const done = await runToDone(page);
  await page.locator('[data-testid=compare-summary][data-final=true]').waitFor();
  const events = cliEvents(['compare', '--prompt', a, '--prompt-b', b, '--mode', 'a', '--temperature', '0', '--max-tokens', '8', '--top', '5']);
  const expected = stepsOf(events);
  const cliDone = doneOf(events);
  assert.equal(done.text, cliDone.text);
  assert.equal(done.compare.mode, 'a');
  assert.match(await page.getByTestId('compare-mode').innerText(), /condition a alone/);
  for (const key of ['mean_kl_ab', 'mean_kl_ba', 'mean_js', 'mean_tv']) assertClose(done.compare[key], cliDone.compare[key], 1e-3, key);
  assert.equal(done.compare.argmax_disagreements, cliDone.compare.argmax_disagreements);
  assertShown(await page.getByTestId('compare-kl-ab').innerText(), done.compare.mean_kl_ab, 3, 'mean KL(a‖b)');
  assertShown(await page.getByTestId('compare-js').innerText(), done.compare.mean_js, 4, 'mean JS');
  assert.ok(done.compare.mean_kl_ab > 0.01, 'different prompts give different distributions');

  // Every step's divergences, as the step line shows them; both top-N charts hold the CLI's candidates.
  assert.equal(await page.getByTestId('token').count(), expected.length);
  for (const [i, step] of expected.entries()) {
    await focusStep(i);
    const line = await page.getByTestId('compare-step').innerText();
    const m = /^Step (\d+):.*KL\(a‖b\) (\S+), KL\(b‖a\) (\S+), JS (\S+), TV (\S+)/s.exec(line);
    assert.ok(m, `step line: ${line}`);
    assert.equal(Number(m[1]), i);
    const js = Number.parseFloat(m[4]);
    assert.ok(js >= 0 && js <= Math.LN2, `JS of step ${i} is ${js}`);
    assert.ok(Number.parseFloat(m[2]) >= 0 && Number.parseFloat(m[3]) >= 0, `KL of step ${i} is not negative: ${line}`);
    assertShown(m[2], step.compare.kl_ab, 3, `KL(a‖b) of step ${i}`);
    assertShown(m[3], step.compare.kl_ba, 3, `KL(b‖a) of step ${i}`);
    assertShown(m[4], step.compare.js, 4, `JS of step ${i}`);
    const rowIds = (id) => page.getByTestId(id).getByTestId('top-row').evaluateAll((rs) => rs.map((r) => Number(r.dataset.id)));
    assert.deepEqual(await rowIds('compare-top-a'), step.top.map((t) => t.id), `a's top-N at step ${i}`);
    assert.deepEqual(await rowIds('compare-top-b'), step.compare.top_b.map((t) => t.id), `b's top-N at step ${i}`);
  }
  for (const id of ['timeline-kl', 'timeline-js']) assert.equal(await page.getByTestId(id).locator('svg circle').count(), expected.length, `${id} has a point per step`);
  await shot('compare');

  // Condition b = condition a: both distributions are the same at every step.
  await page.getByTestId('preset-same').click();
  assert.equal(await page.getByTestId('prompt-b').inputValue(), a);
  const same = await runToDone(page);
  await page.locator('[data-testid=compare-summary][data-final=true]').waitFor();
  assert.equal(same.text, done.text);
  for (const key of ['mean_kl_ab', 'mean_kl_ba', 'mean_js', 'mean_tv']) assertClose(same.compare[key], 0, 1e-9, `${key} with b = a`);
  assert.equal(same.compare.argmax_disagreements, 0);
  const run = await exportedRun(page);
  assert.equal(run.steps.length, 8);
  for (const s of run.steps) {
    for (const key of ['kl_ab', 'kl_ba', 'js', 'tv']) assertClose(s.compare[key], 0, 1e-9, `${key} of step ${s.index} with b = a`);
    assert.deepEqual(s.compare.top_b, s.top);
  }
  assertShown(await page.getByTestId('compare-kl-ab').innerText(), 0, 3, 'mean KL(a‖b) with b = a');
});

test('branch: a fork from a top-N candidate shares the prefix, starts with the candidate and continues as the CLI does', async () => {
  const prompt = 'The capital of France is';
  await openFresh(page, { backend: 'cpu', mode: 'raw', prompt, temperature: 0, max_tokens: 8, top_n: 5, samples: 1 });
  await runToDone(page);
  const parent = await exportedRun(page);
  assert.equal(parent.steps.length, 8);
  const parentTexts = await page.getByTestId('token').allTextContents();

  const at = 2;
  const alt = parent.steps[at].top.find((t) => t.id !== parent.steps[at].token.id);
  await focusStep(at);
  const forkDone = await runToDone(page, page.getByTestId('step-top').locator(`[data-testid=fork][data-id="${alt.id}"]`));

  const tree = page.getByTestId('branch-tree');
  assert.equal(await tree.getAttribute('data-nodes'), '1');
  assert.equal(await page.getByTestId('branch-node').count(), 2, 'the root run and the fork');
  const node = page.locator('[data-testid=branch-node]:not([data-id=root])');
  const nodeId = await node.getAttribute('data-id');
  assert.equal(await node.getAttribute('data-at'), String(at));
  assert.equal(await node.getAttribute('data-sample'), '0');
  assert.equal(await tree.getAttribute('data-selected'), nodeId, 'the fork is selected');
  assert.equal(await page.getByTestId('token-stream').getAttribute('data-node'), nodeId);

  // The fork's sequence: the parent's tokens before the step, the chosen candidate, then its own tokens.
  const forked = await exportedRun(page);
  assert.equal(forked.steps.length, 8, 'max tokens counts the shared prefix');
  assert.deepEqual(ids(forked.steps.slice(0, at)), ids(parent.steps.slice(0, at)));
  assert.equal(forked.steps[at].token.id, alt.id);
  assert.equal(forked.steps[at + 1].position, parent.steps[at].position + 1, 'the fork continues right after the candidate');
  const texts = await page.getByTestId('token').allTextContents();
  assert.deepEqual(texts.slice(0, at), parentTexts.slice(0, at));
  assert.equal(texts[at], alt.text);
  // The continuation is the model's greedy one from the prompt plus that prefix, as the CLI computes it.
  const prefix = [...ids(parent.steps.slice(0, at)), alt.id];
  const events = cliEvents(['branch', '--prompt', prompt, '--prefix-ids', prefix.join(','), '--samples', '1', '--temperature', '0', '--max-tokens', String(8 - prefix.length)]);
  assert.deepEqual(ids(forked.steps.slice(at + 1)), ids(stepsOf(events)));
  assert.equal(forkDone.text, doneOf(events).text);
  await shot('branch-tree');

  // Selecting the root shows the parent run again.
  await page.locator('[data-testid=branch-node][data-id=root] > [data-testid=branch-select]').click();
  assert.equal(await tree.getAttribute('data-selected'), 'root');
  assert.deepEqual(await page.getByTestId('token').allTextContents(), parentTexts);
});

test('branch mode: M samples become M nodes with the CLI’s multi-sample summary', async () => {
  const prompt = 'My favourite colour is';
  await openFresh(page, { view: 'branch', backend: 'cpu', mode: 'raw', prompt, temperature: 1, top_k: 40, top_p: 0.95, seed: 11, max_tokens: 6, samples: 3 });
  const done = await runToDone(page);
  assert.ok(done.samples, `a branch run's done event has samples: ${JSON.stringify(done)}`);
  assert.equal(done.samples.samples, 3);
  assert.equal(await page.getByTestId('branch-node').count(), 4, 'the prompt and three samples');
  const cli = doneOf(cliEvents(['branch', '--prompt', prompt, '--samples', '3', '--temperature', '1', '--top-k', '40', '--top-p', '0.95', '--seed', '11', '--max-tokens', '6']));
  assert.equal(done.tokens, cli.tokens);
  assert.equal(done.samples.distinct, cli.samples.distinct);
  assertClose(done.samples.bf, cli.samples.bf, 1e-3, 'BF over samples');
  await page.getByTestId('samples-summary').waitFor();
  assertShown(await page.getByTestId('samples-bf').innerText(), done.samples.bf, 2, 'BF over samples');
  assert.equal(await page.getByTestId('samples-distinct').innerText(), `${done.samples.distinct} of 3`);
  await shot('branch');
});

test('stop ends a long run mid-way with stop "stopped" in every mode', async () => {
  await openFresh(page, { backend: 'cpu', mode: 'raw', prompt: 'Once upon a time', b_mode: 'raw', b_prompt: 'Long ago', max_tokens: 2000 });
  for (const view of ['generate', 'speculate', 'compare', 'branch']) {
    await page.getByTestId(`tab-${view}`).click();
    await startRun(page);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=token-stream]')?.dataset.steps) >= 4, null, { timeout: LONG });
    await page.getByTestId('stop').click();
    const done = await waitDone(page);
    assert.equal(done.stop, 'stopped', `${view}: ${JSON.stringify(done)}`);
    assert.ok(done.tokens >= 4 && done.tokens < 2000, `${view} stopped after ${done.tokens} tokens`);
    assert.equal(await shownSteps(page), done.tokens);
    assert.equal(await page.getByTestId('token').count(), done.tokens);
    assert.match(await page.getByTestId('run-status').innerText(), /\(stopped\)/);
    assert.ok(await page.getByTestId('stop').isDisabled(), 'nothing runs after the stop');
  }
});

test('step by step: each “Next step” adds exactly one token, and the run is the CLI’s greedy run', async () => {
  const prompt = 'Water boils at';
  await openFresh(page, { backend: 'cpu', mode: 'raw', prompt, temperature: 0, max_tokens: 6 });
  await page.getByTestId('step-mode').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=token-stream]')?.dataset.steps === '1', null, { timeout: LONG });
  assert.match(await page.getByTestId('run-status').innerText(), /Paused/);
  for (let n = 1; n <= 3; n++) {
    await page.getByTestId('next-step').click();
    await page.waitForFunction((k) => document.querySelector('[data-testid=token-stream]')?.dataset.steps === String(k), n + 1, { timeout: LONG });
  }
  await page.waitForTimeout(1000); // a run that went on by itself would show more tokens by now
  assert.equal(await shownSteps(page), 4);
  assert.match(await page.getByTestId('run-status').innerText(), /Paused/);
  const done = await runToDone(page, page.getByRole('button', { name: 'Continue' }));
  assert.equal(done.tokens, 6);
  assert.equal(done.stop, 'length');
  const cli = doneOf(cliEvents(['generate', '--prompt', prompt, '--temperature', '0', '--max-tokens', '6']));
  assert.equal(done.text, cli.text);
});

test('export: the JSON file holds the shown run’s events; the CSV has one row per step', async () => {
  await openFresh(page, { backend: 'cpu', mode: 'raw', prompt: 'The quick brown fox', temperature: 0.8, seed: 5, max_tokens: 8 });
  const done = await runToDone(page);
  const shown = await page.getByTestId('token').allTextContents();
  const run = await exportedRun(page);
  assert.equal(run.tool, 'tokscope');
  assert.equal(run.steps.length, await shownSteps(page));
  assert.equal(run.steps.length, shown.length);
  assert.equal(run.steps.length, done.tokens);
  assert.deepEqual(run.done, done);
  assert.deepEqual(run.steps.map((s) => s.token.text), shown);
  assert.deepEqual(run.steps.map((s) => s.index), shown.map((_, i) => i));
  assert.ok(run.steps.every((s) => s.type === 'step' && s.top.length > 0 && Number.isFinite(s.entropy)));
  assert.equal(run.settings.seed, 5);
  assert.equal(run.settings.prompt, 'The quick brown fox');
  assert.equal(run.steps.map((s) => s.token.text).join(''), done.text);

  const csv = await download(page, page.getByTestId('export-csv'));
  assert.equal(csv.name, 'tokscope-run.csv');
  const [header, ...rows] = parseCsv(csv.bytes.toString('utf8'));
  assert.equal(rows.length, run.steps.length);
  const col = (name) => {
    const i = header.indexOf(name);
    assert.ok(i >= 0, `CSV column ${name}`);
    return i;
  };
  for (const [i, s] of run.steps.entries()) {
    assert.equal(rows[i].length, header.length, `row ${i} has every column`);
    assert.equal(Number(rows[i][col('token_id')]), s.token.id);
    assert.equal(rows[i][col('token_text')].replace(/^'(?=[=+\-@\t\r])/, ''), s.token.text);
    assertClose(Number(rows[i][col('entropy_bits')]), s.entropy / Math.LN2, 1e-9, `entropy of row ${i}`);
    assertClose(Number(rows[i][col('probability')]), Math.exp(s.logprob), 1e-9, `probability of row ${i}`);
  }
});

test('chart export: the SVG is well-formed XML with hostile token text escaped; the PNG is an image of it', async () => {
  const hostile = '<img src=x onerror=alert(1)>\n'.repeat(3);
  await openFresh(page, { backend: 'cpu', mode: 'raw', prompt: hostile, temperature: 0, max_tokens: 8, top_n: 10 });
  await runToDone(page);
  const run = await exportedRun(page);
  const markup = (t) => /[<>&]/.test(t.text);
  const at = run.steps.findIndex((s) => s.top.some(markup));
  assert.ok(at >= 0, `some step's top-N has a candidate with markup characters: ${JSON.stringify(run.steps.map((s) => s.top.map((t) => t.text)))}`);
  const hostileTexts = run.steps[at].top.filter(markup).map((t) => visible(t.text));
  await focusStep(at);
  const chart = page.getByTestId('step-top');
  assert.deepEqual(
    (await chart.getByTestId('top-text').allTextContents()).filter((t) => hostileTexts.includes(t)),
    hostileTexts,
    'the chart shows the candidates',
  );

  const svgFile = await download(page, chart.getByTestId('export-svg'));
  assert.match(svgFile.name, /\.svg$/);
  const svg = svgFile.bytes.toString('utf8');
  assert.ok(svg.startsWith('<?xml'), svg.slice(0, 80));
  const parse = (text) =>
    page.evaluate((t) => {
      const doc = new DOMParser().parseFromString(t, 'image/svg+xml');
      const all = [...doc.getElementsByTagName('*')];
      return {
        error: doc.getElementsByTagName('parsererror')[0]?.textContent ?? null,
        root: doc.documentElement.localName,
        ns: doc.documentElement.namespaceURI,
        width: Number(doc.documentElement.getAttribute('width')),
        texts: [...doc.getElementsByTagName('text')].map((e) => e.textContent),
        elements: [...new Set(all.map((e) => e.localName))],
        handlers: all.flatMap((e) => [...e.attributes].map((a) => a.name).filter((n) => n.toLowerCase().startsWith('on'))),
      };
    }, text);
  const parsed = await parse(svg);
  assert.equal(parsed.error, null, 'the SVG parses as XML');
  assert.equal(parsed.root, 'svg');
  assert.equal(parsed.ns, 'http://www.w3.org/2000/svg');
  assert.deepEqual(parsed.handlers, []);
  assert.ok(!parsed.elements.includes('img') && !parsed.elements.includes('script'), `elements: ${parsed.elements}`);
  assert.ok(!svg.includes('<img'), 'no raw markup from token text');
  for (const text of hostileTexts) {
    assert.ok(parsed.texts.includes(text), `the label "${text}" is text in the SVG: ${parsed.texts}`);
    assert.ok(svg.includes(`>${xmlText(text)}<`), `the label "${text}" is escaped in the file`);
  }

  const png = await download(page, chart.getByTestId('export-png'));
  assert.match(png.name, /\.png$/);
  assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.bytes.readUInt32BE(16), 2 * parsed.width, 'the PNG is the SVG at twice its size');

  // A line chart's export parses too.
  const timeline = await download(page, page.getByTestId('timeline-entropy').getByTestId('export-svg'));
  const line = await parse(timeline.bytes.toString('utf8'));
  assert.equal(line.error, null);
  assert.ok(line.elements.includes('path') && line.elements.includes('circle'), `elements: ${line.elements}`);
  assert.equal(await page.locator('img').count(), 0, 'no <img> element on the page');
});

test('a link restores the mode, its settings, the presenter and the step', async () => {
  const settings = { view: 'speculate', gamma: 3, step: 2, presenter: 1, backend: 'cpu', mode: 'raw', prompt: REPEAT, temperature: 0, max_tokens: 8 };
  await page.goto('about:blank');
  await page.goto(`${baseUrl}#${hashOf(settings)}`);
  await page.getByTestId('model-facts').waitFor({ timeout: LONG });
  assert.equal(await page.getByTestId('tab-speculate').getAttribute('aria-selected'), 'true');
  assert.equal(await page.getByTestId('prompt-panel').getAttribute('data-mode'), 'speculate');
  assert.equal(await page.getByTestId('gamma').inputValue(), '3');
  assert.equal(await page.getByTestId('page').getAttribute('data-presenter'), 'true');
  assert.ok(await page.getByTestId('presenter').isChecked());

  // The link's run runs by itself once the model is ready and opens on the link's step.
  await page.locator('[data-testid=spec-summary][data-final=true]').waitFor({ timeout: LONG });
  const done = await shownDone(page);
  assert.equal(done.spec.gamma, 3);
  assert.equal(done.tokens, 8);
  await page.locator('[data-testid=step-detail][data-index="2"]').waitFor();
  assert.equal(await page.getByTestId('presenter-position').innerText(), 'step 2 of 8');
  const hash = () => new URLSearchParams(new URL(page.url()).hash.slice(1));
  assert.deepEqual(
    ['view', 'gamma', 'step', 'presenter'].map((k) => hash().get(k)),
    ['speculate', '3', '2', '1'],
  );

  // The presenter's keys and buttons move the step, and the URL follows.
  await page.locator('h1').click();
  await page.keyboard.press('ArrowRight');
  await page.locator('[data-testid=step-detail][data-index="3"]').waitFor();
  assert.equal(await page.getByTestId('presenter-position').innerText(), 'step 3 of 8');
  assert.equal(hash().get('step'), '3');
  await page.getByTestId('presenter-prev').click();
  await page.getByTestId('presenter-prev').click();
  await page.locator('[data-testid=step-detail][data-index="1"]').waitFor();
  assert.equal(hash().get('step'), '1');
  await shot('presenter');
});

test('no console errors, failed requests or dialogs', () => {
  assert.deepEqual(browser.consoleErrors, []);
  assert.deepEqual(browser.dialogs, []);
});
