import { readFile } from 'node:fs/promises';
import { stripVTControlCharacters } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import pc from 'picocolors';

import { ConfigError, loadConfig } from './config/load.ts';
import {
  SyncControlError,
  applyConfig,
  pauseSync,
  redrive,
  resumeSync,
  listSyncs,
  setCursor,
  streamStatus,
  syncStatus,
  cohortStatus,
  runCohortNow,
} from './control/syncs.ts';
import { parseDuration, timeOrAgo } from './config/duration.ts';
import { checkDestination } from './control/check.ts';
import { waitForCohortRun } from './control/cohort-progress.ts';
import { colourStatus, describeCohort, lastErrorLine, stalledNote } from './control/format.ts';
import { formatPreview, parsePreviewInput, PreviewInputError, previewCalls } from './control/preview.ts';
import { registerBackfillCommand } from './cli/backfill.ts';
import { backfillProgress, backfillSourceOf, describeBackfill } from './control/backfills.ts';
import { loadSettings, SettingsError, type Settings } from './settings.ts';
import { openStore } from './store/index.ts';
import type { Store } from './store/store.ts';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3 } as const;

interface GlobalOptions {
  json?: boolean;
  address?: string;
  namespace?: string;
  store?: string;
}

function print(opts: GlobalOptions, value: unknown, human: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** Read once per command, when a command first needs them (`validate` and `preview` do not). */
let cachedSettings: Settings | undefined;
function settings(): Settings {
  cachedSettings ??= loadSettings();
  return cachedSettings;
}

async function withClient<T>(opts: GlobalOptions, fn: (client: Client) => Promise<T>): Promise<T> {
  const { temporalAddress, namespace } = settings();
  const address = opts.address ?? temporalAddress;
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, connectTimeout: 5000 });
  } catch (err) {
    throw new SyncControlError(`cannot reach Temporal at ${address}: ${(err as Error).message}`);
  }
  try {
    return await fn(new Client({ connection, namespace: opts.namespace ?? namespace }));
  } finally {
    await connection.close();
  }
}

async function withStore<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(opts.store ?? settings().storeUrl);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function buildCli(): Command {
  const program = new Command('cio-sync')
    .description('Run and operate cio-sync: Amplitude/Segment data into Customer.io, durably, on Temporal.')
    .option('--json', 'machine-readable output')
    // Their defaults come from the settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CIO_SYNC_STORE).
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, else default)')
    .option('--store <url>', 'store URL, sqlite:path or postgres://… (default: CIO_SYNC_STORE)')
    .showHelpAfterError();
  const globals = () => program.opts<GlobalOptions>();

  program
    .command('validate')
    .description('check a config file and report every problem with its line')
    .requiredOption('-f, --file <path>', 'config file')
    .action(async ({ file }: { file: string }) => {
      const config = await loadConfig(file);
      print(
        globals(),
        {
          valid: true,
          sources: config.sources.length,
          destinations: config.destinations.length,
          syncs: config.syncs.length,
        },
        () =>
          pc.green(
            `${file} is valid: ${config.sources.length} source(s), ${config.destinations.length} destination(s), ${config.syncs.length} sync(s)`,
          ),
      );
    });

  program
    .command('apply')
    .description('start, update, pause and resume syncs to match a config file')
    .requiredOption('-f, --file <path>', 'config file')
    .option('--prune', 'stop running syncs that the file no longer has')
    .option('--dry-run', 'print the plan without changing anything')
    .action(async ({ file, prune, dryRun }: { file: string; prune?: boolean; dryRun?: boolean }) => {
      const config = await loadConfig(file);
      const steps = await withClient(globals(), (client) =>
        applyConfig(client, config, { taskQueue: settings().taskQueue, prune, dryRun }),
      );
      print(
        globals(),
        { dryRun: Boolean(dryRun), steps },
        () =>
          steps
            .map((s) => `${dryRun ? pc.dim('(plan) ') : ''}${s.syncId}: ${s.actions.join(', ')}`)
            .join('\n') || 'no syncs',
      );
    });

  program
    .command('list')
    .description('list running syncs with their status, lag and counters')
    .action(async () => {
      const rows = await withClient(globals(), (client) => listSyncs(client));
      print(globals(), rows, () =>
        rows.length === 0
          ? 'no running syncs'
          : table(
              ['SYNC', 'TYPE', 'STATUS', 'LAG', 'DELIVERED', 'DEAD LETTERS', 'LAST ERROR'],
              rows.map((r) => [
                r.syncId,
                r.type ?? '-',
                colourStatus(r.status),
                r.lag ?? '-',
                r.delivered ?? '-',
                r.deadLettered ?? '-',
                r.lastError ?? '',
              ]),
            ),
      );
    });

  program
    .command('status <sync>')
    .description("show a sync's progress, counters and last error (or a backfill's: backfill/<source>)")
    .action(async (syncId: string) => {
      const backfillSource = backfillSourceOf(syncId);
      if (backfillSource !== undefined) {
        const progress = await withClient(globals(), (client) => backfillProgress(client, backfillSource));
        print(globals(), progress, () => describeBackfill(progress));
        return;
      }
      const status = await withClient(globals(), (client) => syncStatus(client, syncId));
      if (status.type === 'cohort') {
        print(globals(), status, () => describeCohort(status));
        return;
      }
      const lag = await withStore(globals(), (store) => store.countAfter(status.source, status.cursor)).catch(
        () => status.lag,
      );
      print(globals(), { ...status, lag }, () =>
        [
          `${pc.bold(status.syncId)} (${status.type}: ${status.source} → ${status.destination}) ${colourStatus(status.status)}${stalledNote(status.stalled)}`,
          `cursor ${status.cursor}, lag ${lag}`,
          `delivered ${status.counters.delivered}, dead-lettered ${status.counters.deadLettered}, retried ${status.counters.retried}, requests ${status.counters.requests}`,
          `filtered ${
            Object.entries(status.counters.filtered)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ') || 'none'
          }`,
          `deletions ${
            Object.entries(status.counters.deletions ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(', ') || 'none'
          }`,
          lastErrorLine(status.lastError),
        ].join('\n'),
      );
    });

  program
    .command('run <sync>')
    .description('run a cohort sync now, whatever its cadence')
    .option('--wait', 'wait for the run to finish, with a progress bar of ids applied')
    .option('--confirm', 'apply a run held because it would remove more than maxRemovalRatio of the segment')
    .option('--timeout <duration>', 'give up waiting after this long', '1h')
    .action(
      async (
        syncId: string,
        { wait, confirm, timeout }: { wait?: boolean; confirm?: boolean; timeout: string },
      ) => {
        const summary = await withClient(globals(), async (client) => {
          const before = await cohortStatus(client, syncId);
          if (confirm && !before.held)
            throw new SyncControlError(
              `${syncId} has no run held for a large removal (status ${before.status})`,
            );
          await runCohortNow(client, syncId, { confirm });
          if (!wait) return undefined;
          return withStore(globals(), (store) =>
            waitForCohortRun(
              client,
              store,
              syncId,
              before,
              parseDuration(timeout) ?? 3_600_000,
              !globals().json,
            ),
          );
        });
        if (!summary) {
          print(globals(), { syncId, started: true }, () => `${syncId}: run requested`);
          return;
        }
        print(globals(), summary, () => describeCohort(summary));
        if (summary.lastError && summary.lastRun?.runId !== summary.currentRunId)
          process.exitCode = EXIT.failure;
      },
    );

  for (const [name, fn, done] of [
    ['pause', pauseSync, 'paused'],
    ['resume', resumeSync, 'resumed'],
  ] as const) {
    program
      .command(`${name} <sync>`)
      .description(`${name} a sync (signal); the log keeps growing while it is paused`)
      .action(async (syncId: string) => {
        await withClient(globals(), (client) => fn(client, syncId));
        print(globals(), { syncId, [done]: true }, () => `${syncId} ${done}`);
      });
  }

  program
    .command('replay <sync>')
    .description('rewind a stream sync to a point in time; Customer.io deduplicates events by id')
    .requiredOption('--since <time>', 'ISO time, or a duration ago like 2h')
    .action(async (syncId: string, { since }: { since: string }) => {
      const time = timeOrAgo(since, Date.now());
      if (time === undefined)
        throw new SyncControlError(`--since: expected an ISO time or a duration like 2h, got "${since}"`);
      const status = await withClient(globals(), (client) => streamStatus(client, syncId));
      const seq = await withStore(globals(), (store) => store.seqAtTime(status.source, time));
      const moved = await withClient(globals(), (client) => setCursor(client, syncId, Math.max(0, seq - 1)));
      print(
        globals(),
        { syncId, since: new Date(time).toISOString(), ...moved },
        () =>
          `${syncId}: cursor ${moved.previous} → ${moved.cursor} (records since ${new Date(time).toISOString()})`,
      );
    });

  program
    .command('reset <sync>')
    .description(
      "move a stream sync's stored cursor: to a seq, back to the beginning of the log, or to its head (skip the backlog)",
    )
    .option('--to <seq>', 'the last seq to count as delivered (the next delivery starts after it)')
    .option('--beginning', 'deliver the whole log again (Customer.io deduplicates events by id)')
    .option('--head', 'skip everything logged so far')
    .action(async (syncId: string, opts: { to?: string; beginning?: boolean; head?: boolean }) => {
      const chosen = [opts.to !== undefined, Boolean(opts.beginning), Boolean(opts.head)].filter(Boolean);
      if (chosen.length !== 1)
        throw new SyncControlError('reset needs exactly one of --to <seq>, --beginning, --head');
      if (opts.to !== undefined && !/^\d+$/.test(opts.to))
        throw new SyncControlError(`--to: expected a seq (a whole number), got "${opts.to}"`);
      const result = await withClient(globals(), async (client) => {
        const status = await streamStatus(client, syncId);
        const cursor = opts.head
          ? await withStore(globals(), (store) => store.headSeq(status.source))
          : opts.beginning
            ? 0
            : Number(opts.to);
        return setCursor(client, syncId, cursor);
      });
      print(
        globals(),
        { syncId, ...result },
        () => `${syncId}: cursor ${result.previous} → ${result.cursor}`,
      );
    });

  program
    .command('dead-letters <sync>')
    .description('list the records a sync could not deliver, or send them again with --redrive')
    .option('--redrive', 'send them again with the current config')
    .option('--limit <n>', 'how many to list', '50')
    .action(async (syncId: string, { redrive: doRedrive, limit }: { redrive?: boolean; limit: string }) => {
      if (doRedrive) {
        const summary = await withClient(globals(), (client) => redrive(client, syncId));
        print(
          globals(),
          summary,
          () =>
            `redriven ${summary.redriven}: delivered ${summary.delivered}, dead-lettered again ${summary.deadLettered}${summary.error ? pc.red(`, error: ${summary.error}`) : ''}`,
        );
        return;
      }
      const letters = await withStore(globals(), (store) =>
        store.listDeadLetters(syncId, { limit: Number(limit) }),
      );
      print(globals(), letters, () =>
        letters.length === 0
          ? `no dead letters for ${syncId}`
          : letters
              .map(
                (l) =>
                  `#${l.id} seq ${l.seq} ${new Date(l.createdAt).toISOString()} ${pc.red(l.reason)}${l.detail ? `: ${l.detail}` : ''}\n  ${JSON.stringify(l.record)}`,
              )
              .join('\n'),
      );
    });

  program
    .command('requests <sync>')
    .description('show the requests a dry-run destination recorded for a sync instead of sending them')
    .option('--limit <n>', 'how many to show', '20')
    .action(async (syncId: string, { limit }: { limit: string }) => {
      const requests = await withStore(globals(), (store) =>
        store.listCapturedRequests(syncId, { limit: Number(limit) }),
      );
      print(globals(), requests, () =>
        requests.length === 0
          ? `no recorded requests for ${syncId}`
          : requests
              .map(
                (r) =>
                  `${pc.dim(new Date(r.createdAt).toISOString())} ${r.method} ${r.url}\n${JSON.stringify(r.body, null, 2)}`,
              )
              .join('\n'),
      );
    });

  program
    .command('preview')
    .description(
      'print the Customer.io requests each stream sync would send for a file of sample calls, and why any call is not sent (no Temporal, store or network)',
    )
    .requiredOption('-f, --file <path>', 'config file')
    .requiredOption(
      '--input <path>',
      'sample calls: an Amplitude HTTP V2 body, a Segment call or batch, or NDJSON mixing them (one per line)',
    )
    .option('--source <id>', 'store every call in this source, whatever key it carries')
    .action(async ({ file, input, source }: { file: string; input: string; source?: string }) => {
      const config = await loadConfig(file);
      let text: string;
      try {
        text = await readFile(input, 'utf8');
      } catch (err) {
        throw new PreviewInputError(`${input}: cannot read the input file: ${(err as Error).message}`);
      }
      const report = previewCalls(config, parsePreviewInput(text, input), {
        now: Date.now(),
        env: process.env,
        ...(source !== undefined && { sourceId: source }),
      });
      print(globals(), report, () => formatPreview(report));
    });

  program
    .command('check <destination>')
    .description("verify a destination's Customer.io credentials and region (secrets from this environment)")
    .requiredOption('-f, --file <path>', 'config file')
    .action(async (destinationId: string, { file }: { file: string }) => {
      const config = await loadConfig(file);
      const destination = config.destinations.find((d) => d.id === destinationId);
      if (!destination) {
        throw new SyncControlError(
          `no destination "${destinationId}" in ${file} (destinations: ${config.destinations.map((d) => d.id).join(', ') || 'none'})`,
          true,
        );
      }
      const result = await checkDestination(destination, process.env);
      print(globals(), result, () => {
        const mark = (ok: boolean) => (ok ? pc.green('ok') : pc.red('failed'));
        const lines = [
          `${pc.bold(destinationId)}: ${mark(result.ok)}`,
          `  Track API: ${mark(result.track.ok)}${result.track.region ? ` (region ${result.track.region}, workspace ${result.track.environmentId})` : ''}${result.track.message ? ` — ${result.track.message}` : ''}`,
        ];
        if (result.app) {
          lines.push(
            `  App API:   ${mark(result.app.ok)}${result.app.segments !== undefined ? ` (${result.app.segments} segments)` : ''}${result.app.message ? ` — ${result.app.message}` : ''}`,
          );
        }
        return lines.join('\n');
      });
      if (!result.ok) process.exitCode = EXIT.failure;
    });

  registerBackfillCommand(program, {
    json: () => Boolean(globals().json),
    taskQueue: () => settings().taskQueue,
    withClient: (fn) => withClient(globals(), fn),
    print: (value, human) => print(globals(), value, human),
  });

  return program;
}

/** Columns padded to their widest cell (colour codes excluded from the width). */
function table(header: string[], rows: Array<Array<string | number>>): string {
  const plain = (v: string | number) => stripVTControlCharacters(String(v));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => plain(r[i] ?? '').length)));
  const line = (cells: Array<string | number>) =>
    cells
      .map((c, i) => String(c) + ' '.repeat(Math.max(0, widths[i]! - plain(c).length)))
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => pc.bold(h))), ...rows.map(line)].join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    // Commands that end in a failure they have already reported set process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${pc.red('invalid config')}\n${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof SettingsError) {
      process.stderr.write(`${pc.red('invalid environment')}\n${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof PreviewInputError) {
      process.stderr.write(`${pc.red('invalid input')}\n${err.message}\n`);
      return EXIT.usage;
    }
    if (err instanceof SyncControlError) {
      process.stderr.write(`${pc.red('error:')} ${err.message}\n`);
      return err.notFound ? EXIT.notFound : EXIT.failure;
    }
    process.stderr.write(`${pc.red('error:')} ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv);
}
