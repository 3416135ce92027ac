/**
 * Reads the records of a downloaded Export API zip in a fixed order, one line at a time.
 *
 * The zip holds one gzipped NDJSON file per upload hour and partition,
 * `<projectId>/<projectId>_<YYYY-MM-DD>_<H>#<n>.json.gz`. Amplitude usually STORES these members (method 0;
 * they are gzip already) but a DEFLATED one reads the same. Nothing is held whole: the central
 * directory is read first (a few hundred bytes an entry) to put the members in (hour, partition, name)
 * order, then each member is streamed through gunzip and split into lines, so memory stays flat
 * whatever the size of the zip or of a member.
 *
 * The order, and the `index` it gives each record, is the same on every read of the same file: a
 * caller can remember how far it got and start there again with `from`.
 */
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';

import { isPlainObject } from '../json-values.ts';
import { exportHourOfMember } from './export-hours.ts';
import type { ExportHour } from './export-hours.ts';

export interface ExportRecord {
  /** The member's path in the zip. */
  member: string;
  hour: ExportHour;
  partition: number;
  /** 1-based line within the member, counting blank lines too. */
  line: number;
  /** 0-based position among all records of the zip, in reading order. */
  index: number;
  /** The line's length in bytes: bounds the size of the record made from it. */
  bytes: number;
  record: Record<string, unknown>;
}

export interface ReadExportZipOptions {
  /** The first `index` to yield; records before it are counted without being parsed. Default 0. */
  from?: number;
  /** A longer line is an ExportFormatError. Default 4 MiB. */
  maxLineBytes?: number;
}

/** The file is not the zip of gzipped NDJSON objects the Export API sends. */
export class ExportFormatError extends Error {
  override name = 'ExportFormatError';
  readonly member: string | undefined;
  readonly line: number | undefined;

  constructor(message: string, where: { member?: string; line?: number; cause?: unknown } = {}) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause });
    this.member = where.member;
    this.line = where.line;
  }
}

interface Member {
  entry: Entry;
  name: string;
  hour: ExportHour;
  partition: number;
}

export const DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Nothing is opened until the first record is asked for; leaving the loop early closes the file. */
export async function* readExportZip(
  path: string,
  options: ReadExportZipOptions = {},
): AsyncGenerator<ExportRecord, void, undefined> {
  const from = options.from ?? 0;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const zip = await openZip(path);
  try {
    let index = 0;
    for (const member of await listMembers(zip, path)) {
      for await (const { line, text, bytes } of memberLines(zip, member, maxLineBytes)) {
        if (index >= from)
          yield { ...memberFields(member), line, index, bytes, record: parseRecord(text, member, line) };
        index++;
      }
    }
  } finally {
    zip.close();
  }
}

async function openZip(path: string): Promise<ZipFile> {
  try {
    // autoClose off: every entry is listed before the first one is opened.
    return await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, strictFileNames: false });
  } catch (err) {
    throw asFormatError(err, `${path} is not a readable zip`);
  }
}

/** The data members in reading order; directories and `_complete` markers left out. */
async function listMembers(zip: ZipFile, path: string): Promise<Member[]> {
  const members: Member[] = [];
  const unknown: string[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (name.endsWith('/') || isCompleteMarker(name)) continue;
      const at = exportHourOfMember(name);
      if (at === undefined) unknown.push(name);
      else members.push({ entry, name, ...at });
    }
  } catch (err) {
    throw asFormatError(err, `${path}: the zip's directory cannot be read`);
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 3).join(', ');
    throw new ExportFormatError(
      `${path}: ${unknown.length} member(s) not named <projectId>/<projectId>_<YYYY-MM-DD>_<H>#<n>.json.gz: ${shown}`,
      { member: unknown[0] as string },
    );
  }
  return members.sort(
    (a, b) =>
      a.hour - b.hour || a.partition - b.partition || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** S3 exports mark finished hours with `…_complete` files; an Export zip may too. */
function isCompleteMarker(name: string): boolean {
  return /_complete(\.[^/]*)?$/i.test(name);
}

/** The member's non-blank lines as text, with their 1-based line numbers. */
async function* memberLines(
  zip: ZipFile,
  member: Member,
  maxLineBytes: number,
): AsyncGenerator<{ line: number; text: string; bytes: number }> {
  const raw = await openEntry(zip, member);
  // Node's gunzip reads concatenated gzip members (a multi-member file) through to the end.
  const gunzip = createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  raw.pipe(gunzip);
  let line = 0;
  try {
    for await (const bytes of splitLines(gunzip, maxLineBytes, () => line + 1, member.name)) {
      line++;
      const text = bytes.toString('utf8');
      if (text.trim() !== '') yield { line, text, bytes: bytes.length };
    }
  } catch (err) {
    throw asFormatError(err, `${member.name}: not a readable gzip file`, member.name);
  } finally {
    raw.unpipe(gunzip);
    raw.destroy();
    gunzip.destroy();
  }
}

async function openEntry(zip: ZipFile, member: Member): Promise<Readable> {
  try {
    return await zip.openReadStreamPromise(member.entry);
  } catch (err) {
    throw asFormatError(err, `${member.name} cannot be opened`, member.name);
  }
}

/**
 * Splits a byte stream at `\n`, dropping a `\r` before it; the last line needs no newline. A line may
 * span chunks, so its pieces are kept until it ends — up to `maxLineBytes`, past which the input is
 * not NDJSON the way Amplitude writes it and holding more would only risk the process.
 */
async function* splitLines(
  source: AsyncIterable<Buffer>,
  maxLineBytes: number,
  lineNumber: () => number,
  member: string,
): AsyncGenerator<Buffer> {
  let pieces: Buffer[] = [];
  let pending = 0;
  const tooLong = () =>
    new ExportFormatError(`${member} line ${lineNumber()}: longer than ${maxLineBytes} bytes`, {
      member,
      line: lineNumber(),
    });
  for await (const chunk of source) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end >= 0; end = chunk.indexOf(NEWLINE, start)) {
      if (pending + end - start > maxLineBytes) throw tooLong();
      const piece = chunk.subarray(start, end);
      yield withoutCarriageReturn(pieces.length === 0 ? piece : Buffer.concat([...pieces, piece]));
      pieces = [];
      pending = 0;
      start = end + 1;
    }
    if (start < chunk.length) {
      pending += chunk.length - start;
      if (pending > maxLineBytes) throw tooLong();
      pieces.push(chunk.subarray(start));
    }
  }
  if (pending > 0) yield withoutCarriageReturn(Buffer.concat(pieces));
}

function withoutCarriageReturn(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.subarray(0, -1) : line;
}

function parseRecord(text: string, member: Member, line: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message.slice(0, 200) : String(err);
    throw new ExportFormatError(`${member.name} line ${line}: not JSON (${reason})`, {
      member: member.name,
      line,
      cause: err,
    });
  }
  if (!isPlainObject(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new ExportFormatError(`${member.name} line ${line}: ${kind}, not a JSON object`, {
      member: member.name,
      line,
    });
  }
  return value;
}

function memberFields(member: Member): Pick<ExportRecord, 'member' | 'hour' | 'partition'> {
  return { member: member.name, hour: member.hour, partition: member.partition };
}

/**
 * Errors of the file system (a missing file, EIO) are passed on as they are: they say nothing about
 * the format. Anything else the zip or gzip readers raise means the bytes are not what they should be.
 */
function asFormatError(err: unknown, message: string, member?: string): unknown {
  if (err instanceof ExportFormatError) return err;
  if (typeof (err as { syscall?: unknown } | null)?.syscall === 'string') return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new ExportFormatError(`${message}: ${reason}`, {
    ...(member !== undefined && { member }),
    cause: err,
  });
}
