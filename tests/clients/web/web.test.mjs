// The orchestrator's web page in a real browser (Debian's chromium via playwright-core) against a live cluster:
// generate with live previews, download, check the PNG (scene checker, muse:parameters, byte-identical reproduction),
// reload settings from the history, cancel mid-decode and watch the server stop, inpaint with a painted mask, show
// an error in words, fit a phone-sized window, and log no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const web = process.env.MUSE_WEB;
const endpoint = process.env.MUSE_ENDPOINT;
const cli = process.env.MUSE_CLI;
const shots = process.env.MUSE_SCREENSHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), 'muse-web-'));
const downloads = fs.mkdtempSync(path.join(os.tmpdir(), 'muse-downloads-'));
// A caption of the synthetic scenes the tiny pipeline was trained on, so the scene checker can judge the image.
const prompt = 'a large red circle on the left';

let browser;
let page;
const consoleErrors = [];

before(async () => {
  assert.ok(web && endpoint && cli, 'MUSE_WEB, MUSE_ENDPOINT and MUSE_CLI must be set (tests/clients/web/run.sh sets them)');
  fs.mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  await page.goto(web);
  // The pipeline picker is filled from ListModels (GET /v1/models).
  await page.waitForFunction(() => document.querySelectorAll('#pipeline option').length > 0);
});

after(async () => {
  await browser?.close();
});

async function setField(selector, value) {
  await page.fill(selector, String(value));
}

async function scrapeInFlight() {
  const text = await (await fetch(new URL('/metrics', web))).text();
  const line = text.split('\n').find((l) => l.startsWith('muse_orchestrator_requests_in_flight'));
  assert.ok(line, 'the orchestrator exports muse_orchestrator_requests_in_flight');
  return Number(line.trim().split(/\s+/).pop());
}

async function baseStats() {
  const models = await (await fetch(new URL('/v1/models', web))).json();
  const pipeline = models.pipelines.find((p) => p.name === models.defaultPipeline);
  return pipeline.models.find((m) => m.model.stage === 'base').stats;
}

function museParameters(png) {
  // Walk the chunks for tEXt "muse:parameters".
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'a PNG');
  for (let at = 8; at + 12 <= png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' && data.toString('latin1', 0, data.indexOf(0)) === 'muse:parameters') {
      return JSON.parse(data.toString('latin1', data.indexOf(0) + 1));
    }
    at += 12 + length;
  }
  return null;
}

test('generate: live previews of both stages, the result downloads unchanged and shows its prompt', async () => {
  await page.evaluate(() => {
    window.previews = [];
    new MutationObserver(() => {
      const img = document.getElementById('preview');
      window.previews.push({ stage: img.dataset.stage, step: Number(img.dataset.step), src: img.src.length + ':' + img.src.slice(-40) });
    }).observe(document.getElementById('preview'), { attributes: true, attributeFilter: ['src'] });
  });
  await setField('#prompt', prompt);
  await setField('#seed', 7);
  await page.focus('#prompt');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#results figure.result img', { timeout: 60_000 });
  await page.screenshot({ path: path.join(shots, 'generate.png'), fullPage: true });

  const previews = await page.evaluate(() => window.previews);
  const stages = new Set(previews.map((p) => p.stage));
  assert.ok(stages.has('base') && stages.has('sr'), `previews of both stages (got ${[...stages]})`);
  assert.ok(new Set(previews.map((p) => p.src)).size >= 4, `the preview changed while decoding (${previews.length} updates)`);
  assert.equal(await page.$eval('#progress-sr', (p) => p.value === p.max && p.max > 1), true, 'the SR bar is full');
  assert.match(await page.textContent('#status'), /^Done/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#results figure.result a[download]')]);
  const file = path.join(downloads, download.suggestedFilename());
  await download.saveAs(file);
  assert.equal(download.suggestedFilename(), 'muse-7.png');
  const png = fs.readFileSync(file);
  const parameters = museParameters(png);
  assert.equal(parameters?.prompt, prompt);
  assert.equal(String(parameters.seed), '7');

  // The scene checker of Muse.Scenes agrees the picture shows the prompt.
  const check = await run('dotnet', [cli, 'check', file, '--json']);
  assert.equal(JSON.parse(check.stdout).allCorrect, true, check.stdout);
  // The download is the server's bytes unchanged: regenerating from its parameters gives the same file.
  await run('dotnet', [cli, 'reproduce', file, '--endpoint', endpoint, '--out', path.join(downloads, 'again.png')]);
});

test('history: "Use settings" puts an image\'s parameters back into the form', async () => {
  await setField('#prompt', 'something else');
  await setField('#seed', '');
  await page.click('#history li:first-child button:text("Use settings")');
  assert.equal(await page.inputValue('#prompt'), prompt);
  assert.equal(await page.inputValue('#seed'), '7');
  assert.notEqual(await page.inputValue('#steps'), '');
});

test('cancel mid-decode: the page says so and the server stops the request', async () => {
  const before = await baseStats();
  await setField('#prompt', 'a small blue square at the top');
  await setField('#steps', 64);
  await setField('#sr-steps', 64);
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('progress-base').value >= 2, null, { timeout: 60_000 });
  assert.equal(await scrapeInFlight(), 1, 'the server is decoding it');
  await page.click('#cancel');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Cancelled'));
  // The server notices the closed request and frees its slot long before 64 + 64 steps could finish.
  const started = Date.now();
  while (await scrapeInFlight() !== 0) {
    assert.ok(Date.now() - started < 10_000, 'the request still runs on the server 10 s after Cancel');
    await new Promise((r) => setTimeout(r, 100));
  }
  const stopped = await baseStats();
  assert.equal(Number(stopped.requests), Number(before.requests) + 1, 'it ran on the base model');
  assert.equal(Number(stopped.completed), Number(before.completed), 'it did not complete');
  assert.equal(Number(stopped.failures), Number(before.failures), 'a cancel is no failure');
  assert.equal(await page.$$eval('#results figure', (f) => f.length), 0);
  assert.equal(await page.isHidden('#error'), true);
  await setField('#steps', '');
  await setField('#sr-steps', '');
});

test('inpaint: paint a mask (brush, clear, eraser) on the result and regenerate under it', async () => {
  await page.click('#history li:first-child button:text("Edit this image")');
  await page.waitForSelector('#edit-mask', { state: 'visible' });
  const stroke = async (x0, y0, x1, y1) => {
    // Clicking buttons scrolls the page: measure the canvas where it is now.
    await page.locator('#edit-mask').scrollIntoViewIfNeeded();
    const box = await page.locator('#edit-mask').boundingBox();
    await page.mouse.move(box.x + box.width * x0, box.y + box.height * y0);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(box.x + box.width * (x0 + (x1 - x0) * i / 8), box.y + box.height * (y0 + (y1 - y0) * i / 8));
    await page.mouse.up();
  };
  await page.fill('#brush-size', '40');
  await page.dispatchEvent('#brush-size', 'input');

  // An empty mask is refused in words before anything is sent.
  await page.click('#clear-mask');
  await setField('#prompt', 'a large blue square on the right');
  await page.click('#run');
  assert.match(await page.textContent('#error'), /mask is empty/);

  // Paint the right half, then erase one stroke of it again.
  for (let y = 0.05; y < 1; y += 0.06) await stroke(0.6, y, 0.97, y);
  await page.check('input[name="tool"][value="eraser"]');
  await stroke(0.6, 0.95, 0.97, 0.95);
  await page.check('input[name="tool"][value="brush"]');
  await page.screenshot({ path: path.join(shots, 'inpaint-mask.png'), fullPage: true });

  await page.evaluate(() => { window.previews = []; });
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#results figure.result img', { timeout: 60_000 });
  assert.ok((await page.evaluate(() => window.previews.length)) >= 2, 'previews while inpainting');
  await page.screenshot({ path: path.join(shots, 'inpaint-result.png'), fullPage: true });

  // Outside the (dilated) mask the original pixels are kept exactly; under it the image changed.
  const diff = await page.evaluate(async () => {
    const pixels = async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      return ctx.getImageData(0, 0, c.width, c.height);
    };
    const edited = await pixels(document.querySelector('#history li:nth-child(1) img').src);
    const original = await pixels(document.querySelector('#history li:nth-child(2) img').src);
    let left = 0; let right = 0;
    for (let y = 0; y < edited.height; y++) {
      for (let x = 0; x < edited.width; x++) {
        const i = (y * edited.width + x) * 4;
        const d = Math.abs(edited.data[i] - original.data[i]) + Math.abs(edited.data[i + 1] - original.data[i + 1]) + Math.abs(edited.data[i + 2] - original.data[i + 2]);
        if (x < edited.width / 4) left += d; else if (x >= edited.width * 0.6) right += d;
      }
    }
    return { left, right };
  });
  assert.equal(diff.left, 0, 'the unmasked left quarter is unchanged');
  assert.ok(diff.right > 0, 'the masked right side changed');
});

test('errors are shown in words: an empty prompt is the server\'s INVALID_ARGUMENT', async () => {
  await page.click('#tab-generate');
  await setField('#prompt', '');
  await page.click('#run');
  await page.waitForSelector('#error:not([hidden])');
  const message = await page.textContent('#error');
  assert.match(message, /Invalid argument/);
  assert.match(message, /prompt/);
  await page.screenshot({ path: path.join(shots, 'error.png') });
});

test('a phone-sized window shows the whole page without sideways scrolling', async () => {
  await setField('#prompt', prompt);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
  await page.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('no console errors (but the refused empty prompt\'s HTTP 400)', () => {
  const unexpected = consoleErrors.filter((e) => !/status of 400/.test(e));
  assert.deepEqual(unexpected, []);
});
