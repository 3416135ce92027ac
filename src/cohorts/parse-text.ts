/** What the cohort document parsers share: their options, UTF-8 decoding and error wording. */
import type { CohortFormat } from '../config/cohort-source.ts';
import { CohortSourceError } from './errors.ts';
import type { CohortReadStats } from './source.ts';

export interface ParseOptions {
  format: CohortFormat;
  /**
   * Column (CSV) or key (JSON objects) holding the id, tried in order: the first one the header (or
   * the first object that has any of them) carries is used.
   */
  columns: readonly string[];
  chunkSize: number;
  /** Names the document in error messages, e.g. `file members.csv`. */
  what: string;
  /** Updated as the document is read. */
  stats: CohortReadStats;
}

export async function* decodeText(input: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<string> {
  // TextDecoder drops a leading BOM by default.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    for await (const chunk of input) {
      const text = decoder.decode(chunk, { stream: true });
      if (text !== '') yield text;
    }
    const tail = decoder.decode();
    if (tail !== '') yield tail;
  } catch (err) {
    if (err instanceof TypeError && (err as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') {
      throw new CohortSourceError('format', `${what} is not valid UTF-8`, { cause: err });
    }
    throw err;
  }
}

export function describeColumns(columns: readonly string[]): string {
  return columns.map((c) => JSON.stringify(c)).join(' or ');
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
