// A client in another language, built from protos/muse/v1/*.proto and nothing else: grpc-js + proto-loader
// against a running orchestrator (MUSE_ENDPOINT, e.g. http://127.0.0.1:45123; run.sh starts one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const protoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../protos');
const SEED = '20240607';
const BASE_STEPS = 3;
const SR_STEPS = 2;
const CALL_SECONDS = 180;

function loadMuseService() {
  const files = fs.readdirSync(path.join(protoRoot, 'muse', 'v1'))
    .filter((f) => f.endsWith('.proto'))
    .map((f) => `muse/v1/${f}`);
  const definition = protoLoader.loadSync(files, {
    includeDirs: [protoRoot],
    keepCase: true, // field names exactly as in the .proto (snake_case)
    longs: String, // uint64 seeds stay exact
    enums: String,
    defaults: true,
    oneofs: true, // GenerateEvent.event names the field that is set
  });
  return grpc.loadPackageDefinition(definition).muse.v1.Muse;
}

function target(endpoint) {
  const url = new URL(endpoint);
  assert.equal(url.protocol, 'http:', `MUSE_ENDPOINT must be an http:// address, got ${endpoint}`);
  return url.host;
}

function deadline(seconds = CALL_SECONDS) {
  return new Date(Date.now() + seconds * 1000);
}

function listModels(client) {
  return new Promise((resolve, reject) => {
    client.ListModels({}, { deadline: deadline(30) }, (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

/** Runs Generate to the end; resolves with every event, rejects with the gRPC error. */
function generate(client, request) {
  return new Promise((resolve, reject) => {
    const events = [];
    const call = client.Generate(request, { deadline: deadline() });
    call.on('data', (event) => events.push(event));
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

// --- PNG, checked by hand: signature, chunk CRCs, IHDR, and the inflated IDAT size. ---

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) {
    c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) {
    c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function decodePng(png) {
  assert.ok(png.length > PNG_SIGNATURE.length, 'PNG is empty');
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'PNG signature');
  const chunks = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    assert.equal(png.readUInt32BE(at + 8 + length), crc32(png.subarray(at + 4, at + 8 + length)), `CRC of ${type}`);
    chunks.push({ type, data });
    at += 12 + length;
  }
  assert.equal(chunks[0].type, 'IHDR', 'first chunk');
  assert.equal(chunks.at(-1).type, 'IEND', 'last chunk');
  const ihdr = chunks[0].data;
  const header = {
    width: ihdr.readUInt32BE(0),
    height: ihdr.readUInt32BE(4),
    bitDepth: ihdr[8],
    colorType: ihdr[9],
    interlace: ihdr[12],
  };
  const pixels = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  return { ...header, pixels };
}

function checkPng(png, width, height) {
  const image = decodePng(png);
  assert.equal(image.width, width, 'IHDR width');
  assert.equal(image.height, height, 'IHDR height');
  assert.equal(image.bitDepth, 8, '8-bit');
  assert.equal(image.colorType, 2, 'RGB');
  assert.equal(image.interlace, 0, 'not interlaced');
  // Each row: one filter-type byte, then 3 bytes per pixel.
  const stride = 1 + width * 3;
  assert.equal(image.pixels.length, height * stride, 'inflated IDAT size');
  for (let row = 0; row < height; row++) {
    assert.ok(image.pixels[row * stride] <= 4, `row ${row} filter type`);
  }
}

// --- Tests ---

describe('muse.v1.Muse from grpc-js', () => {
  const endpoint = process.env.MUSE_ENDPOINT;
  let client;

  before(() => {
    assert.ok(endpoint, 'set MUSE_ENDPOINT to the orchestrator address (run.sh does)');
    const Muse = loadMuseService();
    client = new Muse(target(endpoint), grpc.credentials.createInsecure());
  });

  after(() => client?.close());

  test('ListModels names a default pipeline with a model for every stage', async () => {
    const reply = await listModels(client);

    assert.ok(reply.pipelines.length > 0, 'at least one pipeline');
    assert.equal(reply.pipelines[0].name, reply.default_pipeline, 'the default pipeline comes first');
    for (const pipeline of reply.pipelines) {
      const stages = new Set(pipeline.models.map((m) => m.model.stage));
      assert.deepEqual([...stages].sort(), ['base', 'image_tokenizer', 'sr', 'text_encoder'], pipeline.name);
      assert.ok(pipeline.width > 0 && pipeline.height > 0, `${pipeline.name} size`);
      assert.ok(pipeline.models.every((m) => m.weight > 0), `${pipeline.name} weights`);
    }
  });

  test('Generate streams accepted, base then sr progress, and a decodable PNG result', async () => {
    const models = await listModels(client);
    const request = { prompt: 'a large red circle on the left', seed: SEED, decoding: { base_steps: BASE_STEPS, sr_steps: SR_STEPS } };

    const events = await generate(client, request);

    assert.ok(events.length >= 2, 'at least accepted and result');
    const [first, last] = [events[0], events.at(-1)];
    assert.equal(first.event, 'accepted', 'first event');
    assert.equal(last.event, 'result', 'last event');
    const accepted = first.accepted;
    assert.ok(accepted.request_id.length > 0, 'request id');
    assert.equal(accepted.seed, SEED);
    assert.equal(accepted.pipeline, models.default_pipeline);
    assert.deepEqual(accepted.models.map((m) => m.stage).sort(), ['base', 'image_tokenizer', 'sr', 'text_encoder']);

    const progress = events.slice(1, -1);
    assert.ok(progress.every((e) => e.event === 'progress'), 'only progress between accepted and result');
    const steps = progress.map((e) => `${e.progress.stage}:${e.progress.step}/${e.progress.steps}`);
    assert.deepEqual(steps, ['base:1/3', 'base:2/3', 'base:3/3', 'sr:1/2', 'sr:2/2']);
    for (const stage of ['base', 'sr']) {
      const ofStage = progress.map((e) => e.progress).filter((p) => p.stage === stage);
      const masked = ofStage.map((p) => p.masked_tokens);
      assert.ok(ofStage.every((p) => p.total_tokens === ofStage[0].total_tokens && p.total_tokens > 0), `${stage} grid`);
      assert.ok(masked.every((m, i) => i === 0 || m <= masked[i - 1]), `${stage} masked tokens never grow: ${masked}`);
      assert.equal(masked.at(-1), 0, `${stage} ends with no masked token`);
    }

    const result = last.result;
    const pipeline = models.pipelines.find((p) => p.name === accepted.pipeline);
    assert.equal(result.request_id, accepted.request_id);
    assert.equal(result.seed, SEED);
    assert.equal(result.width, pipeline.width);
    assert.equal(result.height, pipeline.height);
    assert.deepEqual(result.models, accepted.models);
    assert.ok(result.timings.some((t) => t.stage === 'total' && t.milliseconds > 0), 'total timing');
    checkPng(result.image, result.width, result.height);
  });

  test('Generate with the same seed and models returns the same image', async () => {
    const request = { prompt: 'a blue triangle in the center', seed: SEED, decoding: { base_steps: 2, sr_steps: 1 } };

    const [a, b] = [await generate(client, request), await generate(client, request)];

    assert.deepEqual(a[0].accepted.models, b[0].accepted.models, 'same model versions (A/B routing)');
    assert.ok(a.at(-1).result.image.equals(b.at(-1).result.image), 'identical PNG bytes');
  });

  const badRequests = [
    ['empty prompt', { prompt: '' }, 'prompt'],
    ['blank prompt', { prompt: '   ' }, 'prompt'],
    ['zero base steps', { prompt: 'a red square', decoding: { base_steps: 0 } }, 'decoding.base_steps'],
    ['too many sr steps', { prompt: 'a red square', decoding: { sr_steps: 65 } }, 'decoding.sr_steps'],
    ['negative guidance scale', { prompt: 'a red square', decoding: { guidance_scale: -1 } }, 'decoding.guidance_scale'],
    ['negative sampling temperature', { prompt: 'a red square', decoding: { sampling_temperature: -0.5 } }, 'decoding.sampling_temperature'],
  ];
  for (const [name, request, field] of badRequests) {
    test(`Generate with ${name} fails with INVALID_ARGUMENT`, async () => {
      await assert.rejects(generate(client, request), (error) => {
        assert.equal(error.code, grpc.status.INVALID_ARGUMENT, `${error.code}: ${error.details}`);
        assert.ok(error.details.startsWith(`${field} `), `the error names the field ${field}: ${error.details}`);
        return true;
      });
    });
  }
});
