/**
 * Finds one top-level string field (`api_key`, `writeKey`) in a JSON body while it is still being
 * decompressed, so a request with a wrong key is refused after its first few kilobytes instead of
 * after the whole body is inflated and parsed. Pure and incremental: bytes go in chunk by chunk, no
 * recursion, constant memory apart from the key being captured.
 *
 * Works on UTF-8 bytes: every byte JSON's structure depends on is ASCII, and no byte of a
 * multi-byte character is below 0x80, so nothing inside a string can be mistaken for structure.
 * Only the first occurrence counts; the route still checks the parsed body's key (JSON.parse keeps
 * the last duplicate), so this only ever refuses earlier, never accepts anything more.
 */

export type ScanResult =
  | { state: 'pending' }
  | { state: 'found'; value: string }
  /** The body is not an object, the field is absent, or its value is not a string. */
  | { state: 'absent' };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** Longer keys are no key any source has; captured no further. */
const MAX_CAPTURE = 4096;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export class TopLevelKeyScanner {
  readonly #field: Buffer;
  #result: ScanResult = { state: 'pending' };
  #started = false;
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** At depth 1: the next string is a key. */
  #expectKey = false;
  /** At depth 1: after the colon that follows the wanted key. */
  #expectValue = false;
  /** What the current depth-1 string is being captured as. */
  #capturing: 'key' | 'value' | undefined;
  #capture: number[] = [];
  #captureTooLong = false;
  #keyMatches = false;

  constructor(field: string) {
    this.#field = Buffer.from(field, 'utf8');
  }

  get result(): ScanResult {
    return this.#result;
  }

  /** Feeds more of the body; returns the result so far. */
  push(chunk: Uint8Array): ScanResult {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    for (let i = 0; i < bytes.length && this.#result.state === 'pending'; i++) {
      if (this.#inString && !this.#escaped && !this.#capturing) {
        // Inside a string nobody wants: jump to its next quote or backslash (memchr, not a JS loop),
        // so a megabyte-long value costs next to nothing.
        const quote = bytes.indexOf(QUOTE, i);
        const backslash = bytes.indexOf(BACKSLASH, i);
        const next = quote === -1 ? backslash : backslash === -1 ? quote : Math.min(quote, backslash);
        if (next === -1) return this.#result;
        i = next;
      }
      this.#byte(bytes[i]!);
    }
    return this.#result;
  }

  #byte(byte: number): void {
    if (!this.#started) {
      if (isSpace(byte) || byte === 0xef || byte === 0xbb || byte === 0xbf) return; // BOM, whitespace
      this.#started = true;
      if (byte !== OPEN_BRACE) {
        this.#result = { state: 'absent' };
        return;
      }
      this.#depth = 1;
      this.#expectKey = true;
      return;
    }
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false;
      else if (byte === BACKSLASH) this.#escaped = true;
      else if (byte === QUOTE) {
        this.#inString = false;
        this.#endString();
        return;
      }
      if (this.#capturing) {
        if (this.#capture.length < MAX_CAPTURE) this.#capture.push(byte);
        else this.#captureTooLong = true;
      }
      return;
    }
    if (isSpace(byte)) return;
    if (this.#depth === 1 && this.#expectValue) {
      this.#expectValue = false;
      if (byte !== QUOTE) {
        this.#result = { state: 'absent' };
        return;
      }
      this.#startString('value');
      return;
    }
    switch (byte) {
      case QUOTE:
        this.#startString(this.#depth === 1 && this.#expectKey ? 'key' : undefined);
        return;
      case OPEN_BRACE:
      case OPEN_BRACKET:
        this.#depth++;
        return;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        this.#depth--;
        if (this.#depth <= 0) this.#result = { state: 'absent' };
        return;
      case COMMA:
        if (this.#depth === 1) this.#expectKey = true;
        return;
      case COLON:
        if (this.#depth === 1 && this.#keyMatches) this.#expectValue = true;
        this.#keyMatches = false;
        return;
      default:
        return;
    }
  }

  #startString(capturing: 'key' | 'value' | undefined): void {
    this.#inString = true;
    this.#capturing = capturing;
    this.#capture = [];
    this.#captureTooLong = false;
    if (capturing === 'key') this.#expectKey = false;
  }

  #endString(): void {
    const capturing = this.#capturing;
    this.#capturing = undefined;
    if (capturing === 'key') {
      this.#keyMatches = !this.#captureTooLong && this.#field.equals(Buffer.from(this.#capture));
      return;
    }
    if (capturing !== 'value') return;
    if (this.#captureTooLong) {
      // Longer than any key: certainly not one, and not worth decoding.
      this.#result = { state: 'found', value: '\u0000too-long' };
      return;
    }
    try {
      const text = Buffer.from(this.#capture).toString('utf8');
      this.#result = { state: 'found', value: JSON.parse(`"${text}"`) as string };
    } catch {
      // A broken escape: leave it to the full parse to name the problem.
      this.#result = { state: 'absent' };
    }
  }
}
