/**
 * A cohort defined by a SQL query on PostgreSQL. The query runs in a READ ONLY transaction through a
 * server-side cursor (DECLARE … / FETCH FORWARD n), so a million-row answer is read a chunk at a time
 * and the worker never holds more than one chunk. The cursor sees the snapshot taken when it was
 * declared, so the whole cohort is one consistent answer however long reading it takes.
 *
 * The DECLARE goes through the extended protocol, which refuses more than one statement: with the
 * read-only transaction, a query cannot be made to write.
 */
import pg from 'pg';

import type { PostgresCohortSource } from '../config/cohort-source.ts';
import { CohortSourceError } from './errors.ts';
import type { CohortErrorReason } from './errors.ts';
import { newStats, ReadContext } from './read.ts';
import { normalizeId } from './source.ts';
import type { CohortReadOptions, CohortSource } from './source.ts';

export interface ResolvedPostgresSource {
  config: PostgresCohortSource;
  /** `config.connectionString` resolved. */
  connectionString: string;
}

export interface PostgresSourceOptions {
  /** Connecting, and each statement (every FETCH), must finish within this. Default 60 s. */
  statementTimeoutMs?: number;
}

const CURSOR = 'cio_sync_cohort';

export function postgresCohortSource(
  { config, connectionString }: ResolvedPostgresSource,
  options: PostgresSourceOptions = {},
): CohortSource {
  const query = config.query.replace(/[\s;]+$/, '');
  const what = 'postgres query';
  const timeoutMs = options.statementTimeoutMs ?? 60_000;
  const stats = newStats();
  return {
    description: `${what}: ${abbreviate(query)}`,
    stats,
    async *members(readOptions: CohortReadOptions = {}) {
      const ctx = new ReadContext(stats, readOptions);
      ctx.throwIfAborted();
      const client = new pg.Client({
        connectionString,
        application_name: 'cio-sync cohort',
        connectionTimeoutMillis: timeoutMs,
        statement_timeout: timeoutMs,
      });
      // An idle client's socket error arrives as an event; without a listener it would crash the process.
      client.on('error', () => {});
      const abort = () => void client.end().catch(() => {});
      ctx.signal?.addEventListener('abort', abort, { once: true });
      try {
        await client.connect();
        await client.query('BEGIN READ ONLY');
        await client.query({
          text: `DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${query}`,
          queryMode: 'extended',
        } as pg.QueryConfig);
        let checked = false;
        for (;;) {
          ctx.throwIfAborted();
          const result = await client.query<unknown[]>({
            text: `FETCH FORWARD ${ctx.chunkSize} FROM ${CURSOR}`,
            rowMode: 'array',
          });
          if (!checked) {
            checkColumns(result.fields);
            checked = true;
          }
          const chunk: string[] = [];
          for (const row of result.rows) {
            const id = toId(row[0], result.fields[0]?.name ?? '?');
            if (id === undefined) stats.skippedEmpty++;
            else chunk.push(id);
          }
          if (chunk.length > 0) {
            stats.ids += chunk.length;
            ctx.progress({ phase: 'downloading', ids: stats.ids });
            yield chunk;
          }
          if (result.rows.length < ctx.chunkSize) break;
        }
        await client.query('ROLLBACK');
      } catch (err) {
        throw ctx.signal?.aborted ? ctx.classify(err, what) : classifyPgError(err, what, ctx);
      } finally {
        ctx.signal?.removeEventListener('abort', abort);
        await client.end().catch(() => {});
      }
    },
  };
}

function checkColumns(fields: readonly pg.FieldDef[]): void {
  if (fields.length === 1) return;
  const names = fields.map((f) => JSON.stringify(f.name)).join(', ');
  throw new CohortSourceError(
    'query',
    `postgres query returns ${fields.length} columns (${names || 'none'}); it must return exactly one: the member id`,
  );
}

function toId(value: unknown, column: string): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') {
    return normalizeId(value);
  }
  throw new CohortSourceError(
    'query',
    `postgres query: column "${column}" holds ${value instanceof Date ? 'a date' : typeof value} values; ` +
      'select a text or integer id (cast it with ::text)',
  );
}

/**
 * SQLSTATE classes that pass (connection trouble, resources, conflicts, server shutdown) are
 * retryable; a wrong password or a missing database is a config problem; anything about the query
 * itself (syntax, unknown table, permission) will fail the same way next time.
 */
function classifyPgError(err: unknown, what: string, ctx: ReadContext): Error {
  if (err instanceof CohortSourceError) return err;
  if (!(err instanceof pg.DatabaseError) || typeof err.code !== 'string') {
    // No SQLSTATE: connecting failed or the connection was cut.
    if (err instanceof Error && !('code' in err) && /timeout/i.test(err.message)) {
      return new CohortSourceError('timeout', `${what}: ${err.message}`, { cause: err });
    }
    return ctx.classify(err, what);
  }
  const sqlState = err.code;
  const reason = sqlStateReason(sqlState);
  return new CohortSourceError(reason, `${what}: ${err.message} (SQLSTATE ${sqlState})`, { cause: err });
}

function sqlStateReason(sqlState: string): CohortErrorReason {
  const cls = sqlState.slice(0, 2);
  if (sqlState === '57014') return 'timeout'; // statement_timeout
  if (cls === '08' || cls === '57' || cls === '53' || cls === '58') return 'network';
  if (cls === '40') return 'server'; // serialization failure, deadlock
  if (cls === '28') return 'auth';
  if (sqlState === '3D000') return 'config'; // no such database
  return 'query';
}

function abbreviate(query: string, max = 80): string {
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
