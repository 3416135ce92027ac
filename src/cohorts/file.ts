/** A cohort kept in a local file: CSV with a header, a JSON array, or NDJSON (optionally gzip-compressed). */
import { createReadStream } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { resolve, sep } from 'node:path';

import type { CohortFormat, FileCohortSource } from '../config/cohort-source.ts';
import { CohortSourceError } from './errors.ts';
import { DEFAULT_ID_COLUMNS, formatFromName, parseMembers } from './parse.ts';
import { newStats, ReadContext } from './read.ts';
import type { CohortReadOptions, CohortSource } from './source.ts';

export interface FileSourceOptions {
  /** Base for a relative `path`. Default: the process's working directory. */
  cwd?: string;
  /** The file must be below this directory once symbolic links are followed. */
  baseDir?: string;
}

export function fileCohortSource(config: FileCohortSource, options: FileSourceOptions = {}): CohortSource {
  const path = resolve(options.cwd ?? process.cwd(), config.path);
  const format: CohortFormat | undefined = config.format ?? formatFromName(config.path);
  if (format === undefined) {
    throw new CohortSourceError(
      'config',
      `file ${config.path}: cannot tell its format from the name; set format: csv, json or ndjson`,
    );
  }
  const columns = config.column !== undefined ? [config.column] : DEFAULT_ID_COLUMNS;
  const what = `file ${config.path}`;
  const stats = newStats();
  return {
    description: `${what} (${format}, column ${columns.join('|')})`,
    stats,
    async *members(readOptions: CohortReadOptions = {}) {
      const ctx = new ReadContext(stats, readOptions);
      ctx.throwIfAborted();
      if (options.baseDir !== undefined) await assertBelow(path, options.baseDir, what);
      const stream = createReadStream(path, ctx.signal ? { signal: ctx.signal } : {});
      try {
        yield* ctx.reportChunks(
          parseMembers(stream, { format, columns, chunkSize: ctx.chunkSize, what, stats }),
        );
      } catch (err) {
        throw ctx.classify(err, what);
      } finally {
        stream.destroy();
      }
    },
  };
}

/** A link below the cohort directory must not lead out of it. */
async function assertBelow(path: string, baseDir: string, what: string): Promise<void> {
  let real: string, base: string;
  try {
    [real, base] = await Promise.all([realpath(path), realpath(baseDir)]);
  } catch {
    // A missing file or directory is reported by the read itself, as before.
    return;
  }
  if (!real.startsWith(base.endsWith(sep) ? base : base + sep)) {
    throw new CohortSourceError('config', `${what}: leads outside the cohort directory`);
  }
}
