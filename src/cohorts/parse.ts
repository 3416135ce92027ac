/**
 * Streaming parsers that turn a document's bytes into member ids, for every source that reads a
 * document (Amplitude's export, a file, a URL): CSV with a header, a JSON array, NDJSON. Input is
 * consumed as it arrives and ids leave in chunks, so memory is bounded by one chunk plus one element
 * whatever the document's size. A gzip-compressed document is recognised by its magic bytes.
 *
 * Ids come out trimmed; empty values (an empty CSV cell, `null`, `""`, an object without the id key)
 * are skipped and counted. Anything that is not what the format promises is a `format` error.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { parse as parseCsv, CsvError } from 'csv-parse';

import type { CohortFormat } from '../config/cohort-source.ts';
import { CohortSourceError } from './errors.ts';
import { jsonArrayValues, MAX_ELEMENT_CHARS, ndjsonValues } from './parse-json.ts';
import { decodeText, describeColumns, errText, type ParseOptions } from './parse-text.ts';
import { normalizeId, type CohortReadStats } from './source.ts';

export type { ParseOptions } from './parse-text.ts';
export { MAX_ELEMENT_CHARS } from './parse-json.ts';

export const DEFAULT_ID_COLUMNS: readonly string[] = ['id', 'user_id'];

/** The format a path or URL path names by its extension (`.gz` looked through), if any. */
export function formatFromName(name: string): CohortFormat | undefined {
  const lower = name.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson';
  return undefined;
}

/** The format a Content-Type names, if any. */
export function formatFromContentType(contentType: string | undefined): CohortFormat | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === undefined) return undefined;
  if (type === 'text/csv' || type === 'application/csv') return 'csv';
  if (type === 'application/x-ndjson' || type === 'application/ndjson' || type === 'application/jsonl')
    return 'ndjson';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  return undefined;
}

/** Member ids of a document, in chunks of at most `chunkSize`. */
export async function* parseMembers(
  input: AsyncIterable<Uint8Array>,
  options: ParseOptions,
): AsyncGenerator<string[]> {
  const bytes = gunzipIfCompressed(countBytes(input, options.stats));
  const values =
    options.format === 'csv'
      ? csvValues(bytes, options)
      : options.format === 'json'
        ? jsonArrayValues(bytes, options)
        : ndjsonValues(bytes, options);
  let chunk: string[] = [];
  for await (const batch of values) {
    for (const value of batch) {
      const id = normalizeId(value);
      if (id === undefined) {
        options.stats.skippedEmpty++;
        continue;
      }
      chunk.push(id);
      if (chunk.length >= options.chunkSize) {
        options.stats.ids += chunk.length;
        yield chunk;
        chunk = [];
      }
    }
  }
  if (chunk.length > 0) {
    options.stats.ids += chunk.length;
    yield chunk;
  }
}

// ---- bytes -----------------------------------------------------------------------------------------

async function* countBytes(
  input: AsyncIterable<Uint8Array>,
  stats: CohortReadStats,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    stats.bytes += chunk.byteLength;
    yield chunk;
  }
}

async function* gunzipIfCompressed(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const iterator = input[Symbol.asyncIterator]();
  // Two bytes decide; a first chunk of one byte is possible on a slow connection.
  let head = Buffer.alloc(0);
  while (head.length < 2) {
    const next = await iterator.next();
    if (next.done) {
      if (head.length > 0) yield head;
      return;
    }
    head = Buffer.concat([head, next.value]);
  }
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => iterator,
  };
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield head;
    yield* rest;
    return;
  }
  const gunzip = createGunzip();
  const compressed = Readable.from(prepend(head, rest), { objectMode: false });
  // Errors reach the consumer through the gunzip stream, which pipeline destroys with them.
  pipeline(compressed, gunzip, () => {});
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (err) {
    if (err instanceof CohortSourceError) throw err;
    throw new CohortSourceError(
      'format',
      `gzip-compressed document could not be decompressed: ${errText(err)}`,
      {
        cause: err,
      },
    );
  }
}

async function* prepend(head: Uint8Array, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield head;
  yield* rest;
}

// ---- CSV -------------------------------------------------------------------------------------------

/**
 * CSV values of the id column. Lines without a quote or a lone CR are split here, and from the
 * first chunk that has one on, csv-parse reads the rest (from that chunk's first record): its
 * per-record cost is most of what a plain export costs, and an unquoted CSV line is exactly its
 * cells between commas (RFC 4180).
 */
async function* csvValues(
  input: AsyncIterable<Uint8Array>,
  options: ParseOptions,
): AsyncGenerator<unknown[]> {
  const text = decodeText(input, options.what)[Symbol.asyncIterator]();
  let index: number | undefined;
  let carry = '';
  try {
    for (;;) {
      const next = await text.next();
      const chunk = next.done ? carry : carry + next.value;
      // At the end the last line needs no newline; before it, only complete lines are read.
      const end = next.done ? chunk.length : chunk.lastIndexOf('\n') + 1;
      const lines = chunk.slice(0, end);
      if (lines.includes('"') || LONE_CR.test(chunk) || chunk.length - end > MAX_ELEMENT_CHARS) {
        yield* csvParseValues(prependText(chunk, text, next.done), options, index);
        return;
      }
      carry = chunk.slice(end);
      const out: unknown[] = [];
      for (const raw of lines.split('\n')) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line === '') continue;
        if (index === undefined) index = findColumn(line.split(','), options);
        else out.push(index === 0 && !line.includes(',') ? line : line.split(',')[index]);
      }
      if (out.length > 0) yield out;
      if (next.done) break;
    }
  } finally {
    await text.return?.(undefined);
  }
  if (index === undefined) throw emptyCsv(options);
}

/**
 * A CR that does not end a line (old Mac line ends, say): csv-parse reads those documents. One at the
 * chunk's end may be a CRLF cut in two.
 */
const LONE_CR = /\r(?!\n|$)/;

async function* prependText(
  head: string,
  rest: AsyncIterator<string>,
  done: boolean | undefined,
): AsyncGenerator<string> {
  if (head !== '') yield head;
  if (done) return;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/** csv-parse from a record boundary; `index` is the id column when the header was read already. */
async function* csvParseValues(
  input: AsyncIterable<string>,
  options: ParseOptions,
  known: number | undefined,
): AsyncGenerator<unknown[]> {
  const parser = parseCsv({
    skip_empty_lines: true,
    // A short row has an empty id rather than being a broken document.
    relax_column_count: true,
  });
  pipeline(Readable.from(input, { objectMode: false }), parser, () => {});
  let index = known;
  let batch: unknown[] = [];
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (index === undefined) {
        index = findColumn(record, options);
        continue;
      }
      batch.push(record[index]);
      if (batch.length >= 1000) {
        yield batch;
        batch = [];
      }
    }
  } catch (err) {
    if (err instanceof CsvError) {
      throw new CohortSourceError('format', `${options.what}: invalid CSV: ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (index === undefined) throw emptyCsv(options);
  if (batch.length > 0) yield batch;
}

function emptyCsv(options: ParseOptions): CohortSourceError {
  return new CohortSourceError(
    'format',
    `${options.what}: CSV is empty; expected a header naming the id column`,
  );
}

function findColumn(header: readonly string[], options: ParseOptions): number {
  const names = header.map((h) => h.trim());
  for (const wanted of options.columns) {
    const exact = names.indexOf(wanted);
    if (exact >= 0) return exact;
  }
  for (const wanted of options.columns) {
    const loose = names.findIndex((n) => n.toLowerCase() === wanted.toLowerCase());
    if (loose >= 0) return loose;
  }
  throw new CohortSourceError(
    'format',
    `${options.what}: the CSV header has no column ${describeColumns(options.columns)} ` +
      `(header: ${names.map((n) => JSON.stringify(n)).join(', ')}); the first line must name the columns`,
  );
}
