/** Deterministic ULIDs for Customer.io event ids (the same record always gets the same id). */
import { createHash } from 'node:crypto';

/** Crockford's base32, as the ULID spec uses it (no I, L, O, U). */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
/** The largest time a ULID can hold: 48 bits of milliseconds (year 10889). */
export const MAX_ULID_TIME = 2 ** 48 - 1;

/**
 * A ULID whose 80 "random" bits are the first 10 bytes of sha256(seed), so the same event always
 * gets the same id: Customer.io ignores a repeated event `id`, which turns our at-least-once delivery
 * (retries, replays) into exactly-once. The time part keeps ids of different events sortable by time.
 */
export function eventUlid(timeMs: number, seed: string): string {
  if (!Number.isInteger(timeMs) || timeMs < 0 || timeMs > MAX_ULID_TIME) {
    throw new RangeError(`ULID time must be an integer from 0 to ${MAX_ULID_TIME}, got ${timeMs}`);
  }
  return encodeTime(timeMs) + encodeRandom(createHash('sha256').update(seed, 'utf8').digest());
}

/** The millisecond time a ULID carries. */
export function ulidTime(ulid: string): number {
  let time = 0;
  for (const char of ulid.slice(0, TIME_CHARS).toUpperCase()) {
    const value = ALPHABET.indexOf(char);
    if (value < 0) throw new RangeError(`not a Crockford base32 character: ${char}`);
    time = time * 32 + value;
  }
  return time;
}

function encodeTime(timeMs: number): string {
  let out = '';
  let rest = timeMs;
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(bytes: Buffer): string {
  let bits = 0n;
  for (const byte of bytes.subarray(0, 10)) bits = (bits << 8n) | BigInt(byte);
  let out = '';
  for (let i = 0; i < RANDOM_CHARS; i++) {
    out = ALPHABET[Number(bits & 31n)] + out;
    bits >>= 5n;
  }
  return out;
}
