// The HTTP/JSON API of muse.v1.Muse (gRPC JSON transcoding): requests are the proto messages in JSON, Generate and Edit
// answer with one JSON event per line, errors are google.rpc.Status objects.

const CODES = ['OK', 'Cancelled', 'Unknown', 'Invalid argument', 'Deadline exceeded', 'Not found', 'Already exists',
  'Permission denied', 'Resource exhausted', 'Failed precondition', 'Aborted', 'Out of range', 'Unimplemented',
  'Internal', 'Unavailable', 'Data loss', 'Unauthenticated'];

/** A failed call, in words: the status name, the server's message and any field violations. */
export class MuseError extends Error {
  constructor(status, httpStatus) {
    const name = CODES[status.code] ?? `Status ${status.code}`;
    const violations = (status.details ?? [])
      .flatMap((d) => d.fieldViolations ?? [])
      .map((v) => `${v.field}: ${v.description}`)
      .filter((v) => !(status.message ?? '').includes(v.split(': ')[1]));
    super([`${name}: ${status.message || 'no detail'}`, ...violations].join(' '));
    this.code = status.code;
    this.httpStatus = httpStatus;
  }
}

function headers(apiKey) {
  const h = { 'content-type': 'application/json' };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

async function errorOf(response) {
  const text = await response.text();
  try {
    const status = JSON.parse(text);
    if (typeof status.code === 'number') return new MuseError(status, response.status);
  } catch { /* not a google.rpc.Status: fall through */ }
  return new Error(`HTTP ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`);
}

function parseLine(line, httpStatus) {
  const event = JSON.parse(line);
  // A status after events were sent comes as the last line instead of an HTTP status.
  if (typeof event.code === 'number' && !('accepted' in event || 'progress' in event || 'queued' in event || 'result' in event)) {
    throw new MuseError(event, httpStatus);
  }
  return event;
}

/** Lists pipelines and model versions (GET /v1/models). */
export async function listModels(apiKey) {
  const response = await fetch('v1/models', { headers: headers(apiKey) });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/**
 * Calls Generate (`generate`) or Edit (`edit`) and yields every event as it arrives. Aborting `signal` closes the
 * request, which cancels the call on the server.
 */
export async function* stream(kind, body, apiKey, signal) {
  const response = await fetch(`v1/images:${kind}`, { method: 'POST', headers: headers(apiKey), body: JSON.stringify(body), signal });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value ?? new Uint8Array(), { stream: !done });
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) yield parseLine(line, response.status);
    }
    if (done) break;
  }
  if (buffer.trim()) yield parseLine(buffer.trim(), response.status);
}

export function base64ToBytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The JSON a Muse PNG carries in its `muse:parameters` text chunk (tEXt or iTXt), or null. */
export function readParameters(png) {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at + 12 <= png.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const zero = data.indexOf(0);
      const keyword = new TextDecoder('latin1').decode(data.subarray(0, zero));
      if (keyword === 'muse:parameters') {
        let text;
        if (type === 'tEXt') {
          text = new TextDecoder('latin1').decode(data.subarray(zero + 1));
        } else {
          // iTXt: compression flag and method, language tag \0, translated keyword \0, UTF-8 text (uncompressed here).
          const language = data.indexOf(0, zero + 3);
          const translated = data.indexOf(0, language + 1);
          text = new TextDecoder().decode(data.subarray(translated + 1));
        }
        try { return JSON.parse(text); } catch { return null; }
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return null;
}
