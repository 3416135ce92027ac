import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How the platforms' webhook destinations prove who sent a request, checked in constant time.
 *
 * - Amplitude's Webhook destination can only add headers the user sets: the request must carry the
 *   configured header with exactly the configured secret.
 * - Segment's Webhooks destinations send `X-Signature`: the hex HMAC-SHA1, under the shared secret,
 *   of the JSON body; for a batched Webhooks (Actions) request (a JSON array), of the array's first
 *   payload alone, as Segment serialises it (`JSON.stringify(payload[0])`, which is byte for byte
 *   the array's first element because the body is `JSON.stringify` of the array).
 */

/** Whether a header value equals the secret, in time independent of where they first differ. */
export function secretMatches(given: string | string[] | undefined, secret: string): boolean {
  if (typeof given !== 'string') return false;
  // Digests of equal length: timingSafeEqual needs them, and their length tells nothing.
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(secret, 'utf8').digest();
  return timingSafeEqual(a, b);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]);
const CLOSE = new Set([0x5d, 0x7d]);
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * The bytes of the first element of a JSON array body, found by scanning strings and brackets only
 * (nothing is parsed, so a hostile body costs one pass over its first element); undefined when the
 * body is not an array with a complete first element.
 */
export function firstArrayElement(body: Buffer): Buffer | undefined {
  let at = 0;
  while (at < body.length && SPACE.has(body[at]!)) at++;
  if (body[at] !== 0x5b) return undefined;
  at++;
  while (at < body.length && SPACE.has(body[at]!)) at++;
  const start = at;
  let depth = 0;
  let inString = false;
  for (; at < body.length; at++) {
    const byte = body[at]!;
    if (inString) {
      if (byte === BACKSLASH) at++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (OPEN.has(byte)) {
      depth++;
    } else if (CLOSE.has(byte)) {
      if (depth === 0) return at > start ? body.subarray(start, trimEnd(body, start, at)) : undefined;
      depth--;
      if (depth === 0) return body.subarray(start, at + 1);
    } else if (byte === 0x2c && depth === 0) {
      return body.subarray(start, trimEnd(body, start, at));
    }
  }
  return undefined;
}

function trimEnd(body: Buffer, start: number, end: number): number {
  while (end > start && SPACE.has(body[end - 1]!)) end--;
  return end;
}

/** The bytes Segment signed: the whole body, or a batch's first payload. */
export function segmentSignedBytes(body: Buffer): Buffer | undefined {
  let at = 0;
  while (at < body.length && SPACE.has(body[at]!)) at++;
  return body[at] === 0x5b ? firstArrayElement(body) : body;
}

/** Whether `X-Signature` is Segment's signature of this body under the shared secret. */
export function segmentSignatureMatches(
  body: Buffer,
  signature: string | string[] | undefined,
  secret: string,
): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{40}$/i.test(signature.trim())) return false;
  const signed = segmentSignedBytes(body);
  if (signed === undefined) return false;
  const expected = createHmac('sha1', secret).update(signed).digest();
  return timingSafeEqual(expected, Buffer.from(signature.trim(), 'hex'));
}
