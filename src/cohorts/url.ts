/** A cohort document served over HTTP(S): CSV with a header, a JSON array, or NDJSON. */
import type { CohortFormat, UrlCohortSource } from '../config/cohort-source.ts';
import { CohortSourceError } from './errors.ts';
import { createAgent, header, httpGetFollowing, release, safeUrl, statusError } from './http.ts';
import { DEFAULT_ID_COLUMNS, formatFromContentType, formatFromName, parseMembers } from './parse.ts';
import { newStats, ReadContext } from './read.ts';
import type { CohortReadOptions, CohortSource } from './source.ts';

export interface ResolvedUrlSource {
  config: UrlCohortSource;
  /** `config.url` with its `${ENV}` references resolved. */
  url: string;
  /** `config.headers` with their references resolved. */
  headers: Record<string, string>;
}

export function urlCohortSource({ config, url, headers }: ResolvedUrlSource): CohortSource {
  const columns = config.column !== undefined ? [config.column] : DEFAULT_ID_COLUMNS;
  // The description is built from the config as written: the resolved URL may hold a token.
  const what = `url ${safeUrl(config.url)}`;
  const named: CohortFormat | undefined = config.format ?? formatFromName(pathOf(url));
  const stats = newStats();
  return {
    description: `${what} (${named ?? 'format from content type'}, column ${columns.join('|')})`,
    stats,
    async *members(readOptions: CohortReadOptions = {}) {
      const ctx = new ReadContext(stats, readOptions);
      const agent = createAgent(config.timeout);
      try {
        ctx.throwIfAborted();
        const answer = await httpGetFollowing(url, { dispatcher: agent, headers, signal: ctx.signal }, what);
        if (answer.statusCode < 200 || answer.statusCode > 299) throw await statusError(answer, what);
        const format = named ?? formatFromContentType(header(answer.headers, 'content-type'));
        if (format === undefined) {
          release(answer);
          throw new CohortSourceError(
            'config',
            `${what}: cannot tell the format from the URL or its content type ` +
              `(${header(answer.headers, 'content-type') ?? 'none'}); set format: csv, json or ndjson`,
          );
        }
        ctx.progress({ phase: 'downloading', ids: 0, bytes: 0 });
        try {
          yield* ctx.reportChunks(
            parseMembers(answer.body, { format, columns, chunkSize: ctx.chunkSize, what, stats }),
          );
        } finally {
          release(answer);
        }
      } catch (err) {
        throw ctx.classify(err, what);
      } finally {
        await agent.destroy();
      }
    },
  };
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
