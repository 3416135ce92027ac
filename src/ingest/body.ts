import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

import { IngestError } from './errors.ts';
import { TopLevelKeyScanner } from './key-scanner.ts';

/**
 * Reading request bodies: undoing Content-Encoding with a cap on the decoded size (a small gzip body
 * can expand to gigabytes), then JSON or form parsing. Fastify hands routes the raw bytes, so every
 * limit here is counted on what the application actually parses.
 */

const decoders = new Map<string, () => Transform>([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);

/**
 * The pre-authentication budget: while the key is not yet known, a body is decoded only so far,
 * and the key is read from the bytes as they come out of the decoder, so a request with a wrong key
 * costs a few kilobytes of inflating however large it claims to be.
 */
export interface KeyCheck {
  /** The top-level JSON field holding the key (`api_key`, `writeKey`). */
  field: string;
  /** Decoded bytes allowed before the key has been seen (then 413: the SDKs split the batch). */
  preAuthBytes: number;
  /** Throws (an IngestError) when the key is not one of a source's. */
  verify(key: string): void;
}

/**
 * Undoes Content-Encoding with a cap on the decoded size (a small gzip body can expand to
 * gigabytes). With `key`, the key field is looked for in the decoded bytes and verified as soon as
 * it appears; decoding stops at once for a wrong key, or at `preAuthBytes` while none has appeared.
 */
export async function decodeBody(
  raw: unknown,
  contentEncoding: string | undefined,
  maxBytes: number,
  key?: KeyCheck,
): Promise<Buffer> {
  const body = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  const scanner = key && new TopLevelKeyScanner(key.field);
  if (encoding === '' || encoding === 'identity') {
    if (body.length > maxBytes) throw tooLarge();
    // Already in memory: reading the key first still spares the parse of a body with a wrong one.
    const found = scanner?.push(body);
    if (found?.state === 'found') key!.verify(found.value);
    return body;
  }
  const create = decoders.get(encoding);
  if (!create) {
    throw new IngestError('unsupported_encoding', `Content-Encoding "${encoding}" is not supported`);
  }
  if (body.length === 0) return body;
  if (!scanner) return inflate(body, encoding, create, maxBytes);
  // While the key is unknown, what comes out of the decoder is scanned and dropped: a body with a
  // wrong key (or none) costs its scan, not its memory. Once the key checks out, the body is
  // inflated again and kept; the raw bytes are still here. (The SDKs send the key first, so for
  // them the dropped part is the first chunk.)
  await inflate(body, encoding, create, key!.preAuthBytes, (chunk, total) => {
    const found = scanner.push(chunk);
    if (found.state === 'found') key!.verify(found.value);
    if (found.state !== 'pending') return 'stop';
    if (total >= key!.preAuthBytes)
      throw tooLarge(`no ${key!.field} in the first ${key!.preAuthBytes} bytes`);
    return 'more';
  });
  return inflate(body, encoding, create, maxBytes);
}

/**
 * Runs `body` through a decoder: collects the output up to `maxBytes`, or, with `scan`, hands it
 * chunk by chunk to `scan` without keeping it, until `scan` says stop.
 */
async function inflate(
  body: Buffer,
  encoding: string,
  create: () => Transform,
  maxBytes: number,
  scan?: (chunk: Buffer, total: number) => 'more' | 'stop',
): Promise<Buffer> {
  const decoder = create();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    decoder.end(body);
    for await (const chunk of decoder as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (scan) {
        if (scan(chunk, total) === 'stop') break;
        continue;
      }
      if (total > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof IngestError) throw error;
    throw new IngestError('invalid_body', `the ${encoding} body could not be decoded`, {}, { cause: error });
  } finally {
    decoder.destroy();
  }
  return scan ? Buffer.alloc(0) : Buffer.concat(chunks, total);
}

function tooLarge(why?: string): IngestError {
  return new IngestError('payload_too_large', `request body is over the size limit${why ? ` (${why})` : ''}`);
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new IngestError('invalid_json', 'request body is not valid JSON');
  }
}

/**
 * Form fields of a urlencoded or multipart body (the Identify APIs accept both). A JSON body is
 * accepted too, for clients that post the same two fields as JSON. Repeated fields: the first wins.
 */
export async function parseFormFields(
  body: Buffer,
  contentType: string | undefined,
): Promise<Map<string, unknown>> {
  const fields = new Map<string, unknown>();
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (body.length === 0) return fields;
  if (type === 'application/json') {
    const parsed = parseJson(body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      for (const [key, value] of Object.entries(parsed)) fields.set(key, value);
    }
    return fields;
  }
  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Response(body, { headers: { 'content-type': contentType! } }).formData();
    } catch {
      throw new IngestError('invalid_body', 'multipart body could not be parsed');
    }
    for (const [key, value] of form) {
      if (!fields.has(key) && typeof value === 'string') fields.set(key, value);
    }
    return fields;
  }
  for (const [key, value] of new URLSearchParams(body.toString('utf8'))) {
    if (!fields.has(key)) fields.set(key, value);
  }
  return fields;
}
