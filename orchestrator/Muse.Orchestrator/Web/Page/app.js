import { listModels, stream, base64ToBytes, bytesToBase64, readParameters } from './api.js';
import { MaskPainter } from './mask.js';

const $ = (id) => document.getElementById(id);
const form = $('form');
const STAGES = ['text_encoder', 'base', 'sr', 'image_tokenizer'];
const KEY = 'muse.apiKey';

const state = {
  mode: 'generate',
  controller: null,
  catalog: null,
  edit: null, // { bytes, width, height, url }
  history: [],
};
const painter = new MaskPainter($('edit-image'), $('edit-mask'));

// ---- status, errors, progress

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(text) {
  $('status').textContent = text;
}

function resetProgress() {
  for (const stage of ['base', 'sr']) {
    $(`progress-${stage}`).value = 0;
    $(`progress-${stage}-text`).textContent = '';
  }
}

function setRunning(running) {
  $('run').disabled = running;
  $('cancel').disabled = !running;
  form.classList.toggle('running', running);
}

// ---- the model list

async function loadCatalog() {
  try {
    state.catalog = await listModels(apiKey());
  } catch (error) {
    showError(`Could not load the model list. ${error.message}`);
    return;
  }
  const select = $('pipeline');
  select.replaceChildren(...state.catalog.pipelines.map((p) => {
    const option = new Option(`${p.name} (${p.width}×${p.height}${p.trained ? '' : ', untrained'})`, p.name);
    option.title = p.description ?? '';
    return option;
  }));
  select.value = state.catalog.defaultPipeline || state.catalog.pipelines[0]?.name;
  renderVersions();
}

function pipelineInfo() {
  return state.catalog?.pipelines.find((p) => p.name === $('pipeline').value);
}

function renderVersions() {
  const pipeline = pipelineInfo();
  const box = $('versions');
  if (!pipeline) { box.replaceChildren(); return; }
  box.replaceChildren(...STAGES.map((stage) => {
    const candidates = pipeline.models.filter((m) => m.model.stage === stage);
    const label = document.createElement('label');
    label.textContent = stage.replace('_', ' ');
    const select = document.createElement('select');
    select.dataset.stage = stage;
    select.append(new Option(candidates.length > 1 ? 'any (A/B by weight)' : 'any', ''));
    for (const c of candidates) {
      select.append(new Option(`${c.model.name}/${c.model.version}${candidates.length > 1 ? ` (weight ${c.weight})` : ''}`,
        `${c.model.name}/${c.model.version}`));
    }
    label.append(select);
    return label;
  }));
}

function pinnedModels() {
  return [...$('versions').querySelectorAll('select')]
    .filter((s) => s.value)
    .map((s) => {
      const [name, version] = s.value.split('/');
      return { stage: s.dataset.stage, name, version };
    });
}

// ---- the request

function apiKey() {
  return sessionStorage.getItem(KEY) || '';
}

function integer(id) {
  const text = $(id).value.trim();
  return text === '' ? undefined : Number(text);
}

function common() {
  const body = {
    prompt: $('prompt').value,
    negativePrompt: $('negative').value,
    pipeline: $('pipeline').value || '',
    previewEvery: 1,
    decoding: {},
  };
  const seed = $('seed').value.trim();
  if (seed !== '') {
    if (!/^\d+$/.test(seed)) throw new Error('The seed must be a whole number of 0 or more (or empty for a random one).');
    body.seed = seed; // uint64: a string keeps every digit
  }
  const steps = integer('steps');
  const srSteps = integer('sr-steps');
  const guidance = integer('guidance');
  if (steps !== undefined) body.decoding.baseSteps = steps;
  if (srSteps !== undefined) body.decoding.srSteps = srSteps;
  if (guidance !== undefined) body.decoding.guidanceScale = guidance;
  return body;
}

async function editBody() {
  if (!state.edit) throw new Error('Choose an image to edit first (upload one, or “Edit this image” on a result).');
  const body = { ...common(), image: bytesToBase64(state.edit.bytes) };
  const mode = form.querySelector('input[name="edit-mode"]:checked').value;
  if (mode === 'inpaint') {
    if (painter.isEmpty()) throw new Error('Paint over the region to regenerate first: the mask is empty.');
    body.inpaint = { mask: bytesToBase64(await painter.maskPng()) };
  } else if (mode === 'outpaint') {
    body.outpaint = {
      left: integer('margin-left') ?? 0, right: integer('margin-right') ?? 0,
      top: integer('margin-top') ?? 0, bottom: integer('margin-bottom') ?? 0,
    };
  } else {
    body.maskFree = { iterations: integer('iterations'), maskFraction: Number($('mask-fraction').value) };
  }
  return body;
}

async function run() {
  if (state.controller) return;
  showError('');
  let kind, body;
  try {
    if (state.mode === 'generate') {
      kind = 'generate';
      body = { ...common(), numImages: integer('num-images') ?? 1, models: pinnedModels() };
    } else {
      kind = 'edit';
      body = await editBody();
    }
  } catch (error) {
    showError(error.message);
    return;
  }

  const controller = new AbortController();
  state.controller = controller;
  setRunning(true);
  resetProgress();
  $('results').replaceChildren();
  setStatus('Sending…');
  try {
    for await (const event of stream(kind, body, apiKey(), controller.signal)) {
      handle(event, body);
    }
  } catch (error) {
    if (error.name === 'AbortError') {
      setStatus('Cancelled: the server stopped working on it.');
    } else {
      setStatus('Failed.');
      showError(error.message);
    }
  } finally {
    state.controller = null;
    setRunning(false);
  }
}

function handle(event, body) {
  if (event.accepted) {
    const a = event.accepted;
    setStatus(`Accepted: pipeline ${a.pipeline}, seed ${a.seed}.`);
  } else if (event.queued) {
    setStatus(`Waiting for a free slot: position ${event.queued.position} in the queue (holds ${event.queued.capacity}).`);
  } else if (event.progress) {
    const p = event.progress;
    const bar = $(`progress-${p.stage}`);
    if (bar) {
      bar.max = p.steps;
      bar.value = p.step;
      $(`progress-${p.stage}-text`).textContent = `${p.step}/${p.steps}${p.rounds ? `, round ${p.round}/${p.rounds}` : ''}`;
    }
    setStatus(`Decoding ${p.stage === 'sr' ? 'super-resolution' : 'base'}: step ${p.step} of ${p.steps}, ${p.maskedTokens} of ${p.totalTokens} tokens still masked.`);
    if (p.previewPng) {
      const preview = $('preview');
      preview.src = `data:image/png;base64,${p.previewPng}`;
      preview.dataset.stage = p.stage;
      preview.dataset.step = String(p.step);
      preview.alt = `Preview of the ${p.stage} stage at step ${p.step}`;
      $('preview-caption').textContent = `Live preview: ${p.stage === 'sr' ? 'super-resolution' : 'base'}, step ${p.step}/${p.steps}`;
      $('preview-box').hidden = false;
    }
  } else if (event.result) {
    const r = event.result;
    const total = r.timings?.find((t) => t.stage === 'total');
    setStatus(`Done${total ? ` in ${(total.milliseconds / 1000).toFixed(1)} s` : ''}.`);
    const images = r.images?.length ? r.images : [{ image: r.image, seed: r.seed, width: r.width, height: r.height, index: 0 }];
    $('results').replaceChildren(...images.map((image) => addResult(image, body)));
  }
}

// ---- results and history

function addResult(image, body) {
  const bytes = base64ToBytes(image.image);
  const url = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
  const parameters = readParameters(bytes);
  const item = { bytes, url, seed: String(image.seed), width: image.width, height: image.height, parameters, prompt: body.prompt };
  state.history.unshift(item);
  renderHistory();
  return figure(item, true);
}

function figure(item, large) {
  const figure = document.createElement('figure');
  figure.className = large ? 'result' : 'thumb';
  const img = document.createElement('img');
  img.src = item.url;
  img.alt = item.prompt;
  img.width = item.width;
  img.height = item.height;
  const caption = document.createElement('figcaption');
  const text = document.createElement('span');
  text.textContent = `${item.prompt} — seed ${item.seed}`;
  const download = document.createElement('a');
  download.href = item.url;
  download.download = `muse-${item.seed}.png`;
  download.textContent = 'Download';
  download.className = 'button';
  const reuse = button('Use settings', () => useSettings(item));
  const edit = button('Edit this image', () => editThis(item));
  caption.append(text, download, reuse, edit);
  figure.append(img, caption);
  return figure;
}

function button(text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

function renderHistory() {
  $('history-empty').hidden = state.history.length > 0;
  $('history').replaceChildren(...state.history.map((item) => {
    const li = document.createElement('li');
    li.append(figure(item, false));
    return li;
  }));
}

function useSettings(item) {
  const p = item.parameters;
  if (!p) {
    showError('This image carries no muse:parameters chunk.');
    return;
  }
  $('prompt').value = p.prompt ?? '';
  $('negative').value = p.negativePrompt ?? '';
  $('seed').value = String(p.seed ?? '');
  $('steps').value = p.baseSteps ?? '';
  $('sr-steps').value = p.srSteps ?? '';
  $('guidance').value = p.guidanceScale ?? '';
  if (p.pipeline && [...$('pipeline').options].some((o) => o.value === p.pipeline)) {
    $('pipeline').value = p.pipeline;
    renderVersions();
  }
  for (const select of $('versions').querySelectorAll('select')) {
    const model = p.models?.find((m) => m.stage === select.dataset.stage);
    const value = model ? `${model.name}/${model.version}` : '';
    select.value = [...select.options].some((o) => o.value === value) ? value : '';
  }
  $('num-images').value = 1;
  setMode('generate');
  setStatus(`Settings of seed ${p.seed} loaded: Generate makes the same image again.`);
  $('prompt').focus();
}

// ---- editing

async function setEditImage(bytes, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
  } catch {
    URL.revokeObjectURL(url);
    showError('That file could not be read as an image (PNG or JPEG).');
    return;
  }
  state.edit = { bytes, width: image.naturalWidth, height: image.naturalHeight, url };
  painter.load(image);
  $('canvas-wrap').hidden = false;
  $('no-image').hidden = true;
}

function editThis(item) {
  setMode('edit');
  setEditImage(item.bytes, 'image/png');
  if (item.parameters?.prompt && !$('prompt').value) $('prompt').value = item.parameters.prompt;
}

function setMode(mode) {
  state.mode = mode;
  for (const tab of form.querySelectorAll('[role="tab"]')) tab.setAttribute('aria-selected', String(tab.dataset.mode === mode));
  $('edit-options').hidden = mode !== 'edit';
  $('num-images-label').hidden = mode === 'edit';
  $('versions-box').hidden = mode === 'edit';
  $('run').textContent = mode === 'edit' ? 'Edit' : 'Generate';
  showEditMode();
}

function showEditMode() {
  const mode = form.querySelector('input[name="edit-mode"]:checked').value;
  $('inpaint-options').hidden = mode !== 'inpaint';
  $('outpaint-options').hidden = mode !== 'outpaint';
  $('mask-free-options').hidden = mode !== 'mask_free';
}

// ---- wiring

form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
$('cancel').addEventListener('click', () => state.controller?.abort());
$('dice').addEventListener('click', () => {
  $('seed').value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
});
$('pipeline').addEventListener('change', renderVersions);
for (const tab of form.querySelectorAll('[role="tab"]')) tab.addEventListener('click', () => setMode(tab.dataset.mode));
for (const radio of form.querySelectorAll('input[name="edit-mode"]')) radio.addEventListener('change', showEditMode);
for (const radio of form.querySelectorAll('input[name="tool"]')) radio.addEventListener('change', () => { painter.tool = radio.value; });
$('brush-size').addEventListener('input', (e) => { painter.size = Number(e.target.value); });
$('clear-mask').addEventListener('click', () => painter.clear());
$('upload').addEventListener('change', async (e) => {
  const file = e.target.files?.[0];
  if (file) await setEditImage(new Uint8Array(await file.arrayBuffer()), file.type || 'image/png');
});
$('api-key').value = apiKey();
$('api-key').addEventListener('change', (e) => {
  const key = e.target.value.trim();
  if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
  loadCatalog();
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    run();
  } else if (e.key === 'Escape' && state.controller) {
    state.controller.abort();
  }
});
window.addEventListener('unhandledrejection', (e) => showError(`Unexpected error: ${e.reason?.message ?? e.reason}`));

setMode('generate');
loadCatalog();
