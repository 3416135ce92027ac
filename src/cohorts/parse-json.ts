/**
 * The JSON formats of a cohort document: a JSON array (read element by element, never whole) and
 * NDJSON. An element is the id (a string or a number) or an object that carries it under a key.
 */
import { CohortSourceError } from './errors.ts';
import { decodeText, describeColumns, errText, type ParseOptions } from './parse-text.ts';

/** One JSON element or NDJSON line larger than this is not a member id: fail instead of buffering it. */
export const MAX_ELEMENT_CHARS = 1_000_000;

// ---- JSON array ------------------------------------------------------------------------------------

type ArrayState = 'start' | 'first' | 'value' | 'in-value' | 'done';

/**
 * A JSON document whose top level is an array, split into its elements without holding the whole
 * document: each element's text is cut out by tracking strings and nesting, then JSON.parse'd.
 */
export async function* jsonArrayValues(
  input: AsyncIterable<Uint8Array>,
  options: ParseOptions,
): AsyncGenerator<unknown[]> {
  const keys = new ObjectKeys(options);
  let state = 'start' as ArrayState;
  let carry = '';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let position = 0;
  let element = 0;
  const fail = (message: string): never => {
    throw new CohortSourceError(
      'format',
      `${options.what}: invalid JSON: ${message} (at character ${position})`,
    );
  };

  for await (const text of decodeText(input, options.what)) {
    const out: unknown[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++, position++) {
      const c = text.charCodeAt(i);
      if (state === 'in-value') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === 0x5c /* \ */) escaped = true;
          else if (c === 0x22 /* " */) inString = false;
          continue;
        }
        if (c === 0x22) inString = true;
        else if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
        else if ((c === 0x7d /* } */ || c === 0x5d) /* ] */ && depth > 0) depth--;
        else if (depth === 0 && (c === 0x2c /* , */ || c === 0x5d)) {
          const source = carry + text.slice(start, i);
          carry = '';
          out.push(keys.value(parseElement(source, element++, options), element));
          state = c === 0x2c ? 'value' : 'done';
        }
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      switch (state) {
        case 'start':
          if (c !== 0x5b) fail('expected the document to be an array [ … ]');
          state = 'first';
          break;
        case 'first':
        case 'value':
          if (c === 0x5d) {
            if (state === 'value') fail('a comma before ]');
            state = 'done';
            break;
          }
          if (c === 0x2c) fail('an empty element');
          state = 'in-value';
          start = i;
          depth = 0;
          inString = false;
          escaped = false;
          // Re-read this character as the element's first.
          i--;
          position--;
          break;
        case 'done':
          fail('text after the closing ]');
      }
    }
    if (state === 'in-value') {
      carry += text.slice(start);
      if (carry.length > MAX_ELEMENT_CHARS)
        fail(`element ${element + 1} is over ${MAX_ELEMENT_CHARS} characters`);
    }
    if (out.length > 0) yield out;
  }
  if (state === 'start') fail('the document is empty');
  if (state !== 'done') fail('the document ends before the array is closed');
  keys.finish();
}

function parseElement(source: string, index: number, options: ParseOptions): unknown {
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new CohortSourceError(
      'format',
      `${options.what}: invalid JSON in element ${index + 1}: ${errText(err)}`,
      { cause: err },
    );
  }
}

// ---- NDJSON ----------------------------------------------------------------------------------------

export async function* ndjsonValues(
  input: AsyncIterable<Uint8Array>,
  options: ParseOptions,
): AsyncGenerator<unknown[]> {
  const keys = new ObjectKeys(options);
  let carry = '';
  let line = 0;
  const parseLine = (text: string, out: unknown[]) => {
    line++;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new CohortSourceError(
        'format',
        `${options.what}: invalid JSON on line ${line}: ${errText(err)}`,
        {
          cause: err,
        },
      );
    }
    out.push(keys.value(value, line));
  };
  for await (const text of decodeText(input, options.what)) {
    const out: unknown[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      parseLine(carry + text.slice(start, nl), out);
      carry = '';
      start = nl + 1;
    }
    carry += text.slice(start);
    if (carry.length > MAX_ELEMENT_CHARS) {
      throw new CohortSourceError(
        'format',
        `${options.what}: line ${line + 1} is over ${MAX_ELEMENT_CHARS} characters`,
      );
    }
    if (out.length > 0) yield out;
  }
  const out: unknown[] = [];
  parseLine(carry, out);
  if (out.length > 0) yield out;
  keys.finish();
}

// ---- elements: a string/number is the id, an object carries it under a key --------------------------

class ObjectKeys {
  readonly #options: ParseOptions;
  #key: string | undefined;
  #objects = 0;

  constructor(options: ParseOptions) {
    this.#options = options;
  }

  /** The id value of one element (undefined/null when empty); `where` is its 1-based position. */
  value(element: unknown, where: number): unknown {
    if (element === null || typeof element === 'string' || typeof element === 'number') return element;
    if (typeof element !== 'object' || Array.isArray(element)) {
      throw new CohortSourceError(
        'format',
        `${this.#options.what}: element ${where} is ${Array.isArray(element) ? 'an array' : typeof element}; ` +
          'expected a string, a number or an object',
      );
    }
    this.#objects++;
    const record = element as Record<string, unknown>;
    this.#key ??= this.#options.columns.find((k) => Object.hasOwn(record, k));
    if (this.#key === undefined) return undefined;
    const value = record[this.#key];
    if (value === undefined || value === null || typeof value === 'string' || typeof value === 'number')
      return value;
    throw new CohortSourceError(
      'format',
      `${this.#options.what}: element ${where}: "${this.#key}" is ${Array.isArray(value) ? 'an array' : typeof value}; ` +
        'expected a string or a number',
    );
  }

  /** Objects were read but none carried an id key: the column is wrong, not every member empty. */
  finish(): void {
    if (this.#objects > 0 && this.#key === undefined) {
      throw new CohortSourceError(
        'format',
        `${this.#options.what}: no object has a key ${describeColumns(this.#options.columns)}; set \`column\``,
      );
    }
  }
}
