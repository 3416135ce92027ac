import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type { InputType, ZlibOptions } from 'node:zlib';

import { IngestError } from './errors.ts';

/**
 * Reading request bodies: undoing Content-Encoding with a cap on the decoded size (a small gzip body
 * can expand to gigabytes), then JSON or form parsing. Fastify hands routes the raw bytes, so every
 * limit here is counted on what the application actually parses.
 */

type Decoder = (buf: InputType, options: ZlibOptions) => Promise<Buffer>;

const decoders = new Map<string, Decoder>([
  ['gzip', promisify(gunzip)],
  ['x-gzip', promisify(gunzip)],
  ['deflate', promisify(inflate)],
  ['br', promisify(brotliDecompress) as Decoder],
]);

export async function decodeBody(
  raw: unknown,
  contentEncoding: string | undefined,
  maxBytes: number,
): Promise<Buffer> {
  const body = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') {
    if (body.length > maxBytes) throw tooLarge();
    return body;
  }
  const decode = decoders.get(encoding);
  if (!decode) {
    throw new IngestError('unsupported_encoding', `Content-Encoding "${encoding}" is not supported`);
  }
  if (body.length === 0) return body;
  try {
    return await decode(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new IngestError('invalid_body', `the ${encoding} body could not be decoded`, {}, { cause: error });
  }
}

function tooLarge(): IngestError {
  return new IngestError('payload_too_large', 'request body is over the size limit');
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
