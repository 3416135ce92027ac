import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import { ROOT } from './helpers/processes.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `cio-sync preview` as a process, with Temporal and the store pointed at nothing: the command
 * must need neither (nor the network).
 */
async function preview(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'src/client.ts'), ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NO_COLOR: '1',
          TEMPORAL_ADDRESS: '127.0.0.1:1',
          CIO_SYNC_STORE: 'sqlite:/nonexistent/dir/store.db',
          // The example config has no default key; the sample calls carry make start's development key.
          WEB_API_KEY: 'dev-web-key',
        },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cio-sync-preview-'));
});

describe('cio-sync preview', () => {
  it('prints the requests and each call’s fate for the example config and sample calls', async () => {
    const res = await preview([
      'preview',
      '-f',
      'examples/cio-sync.yaml',
      '--input',
      'examples/sample-calls.ndjson',
    ]);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const lines = res.stdout.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      '7 call(s): 6 stored, 1 rejected at ingest',
      '',
      'web-to-cio (stream: web → cio)',
      '  note: destination cio has dryRun: auto: recorded instead of sent when apply finds no credentials',
      '  note: lanes: auto: one lane, as for any log of up to 2000 records (4 full requests)',
      '  request 1: POST https://track.customer.io/api/v2/batch (4 operation(s) from 3 record(s), 659 bytes)',
    ]);
    expect(lines.filter((l) => l.startsWith('  request '))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('  seq ') || l.startsWith('  examples/'))).toEqual([
      '  seq 1  examples/sample-calls.ndjson:1 events[0]  sent in request 1 (2 operation(s))',
      '  seq 2  examples/sample-calls.ndjson:1 events[1]  filtered: no_user_id',
      '  seq 3  examples/sample-calls.ndjson:2  sent in request 1 (1 operation(s))',
      '  seq 4  examples/sample-calls.ndjson:3 batch[0]  sent in request 1 (1 operation(s))',
      '  seq 5  examples/sample-calls.ndjson:3 batch[1]  filtered: user_unchanged',
      '  seq 6  examples/sample-calls.ndjson:4  dead-lettered: identifier_too_long (identifier is 160 bytes, limit 150)',
      '  examples/sample-calls.ndjson:5  invalid_events: userId: userId or anonymousId is required',
    ]);
  });

  it('--json gives the report: the exact /api/v2/batch body per request', async () => {
    const res = await preview([
      '--json',
      'preview',
      '-f',
      'examples/cio-sync.yaml',
      '--input',
      'examples/sample-calls.ndjson',
    ]);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    const [sync] = report.syncs;
    // The example has the default lanes: auto, which sends a log this small on one lane, in log order.
    expect(
      sync.requests.map(
        (r: {
          method: string;
          url: string;
          lane: number;
          seqs: number[];
          body: { batch: Array<{ action: string; identifiers: object }> };
        }) => [r.method, r.url, r.lane, r.seqs, r.body.batch.map((op) => [op.action, op.identifiers])],
      ),
    ).toEqual([
      [
        'POST',
        'https://track.customer.io/api/v2/batch',
        0,
        [1, 3, 4],
        [
          ['identify', { id: 'user-123' }],
          ['event', { id: 'user-123' }],
          ['identify', { id: 'user-123' }],
          ['event', { id: 'user-456' }],
        ],
      ],
    ]);
    expect(sync.summary).toEqual({
      records: 6,
      sent: 3,
      filtered: { no_user_id: 1, user_unchanged: 1 },
      deadLettered: 1,
    });
  });

  it('names the file and line of a bad input line, and exits 2', async () => {
    const input = join(dir, 'bad.ndjson');
    await writeFile(input, '{"type":"track","userId":"u","event":"A"}\n{"type": "track", "event":\n');
    const res = await preview(['preview', '-f', 'examples/cio-sync.yaml', '--input', input]);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(
      new RegExp(`^invalid input\\n${input.replaceAll('.', '\\.')}:2: invalid JSON \\(`),
    );
  });

  it('reports a missing input file and an unknown --source clearly', async () => {
    const missing = await preview([
      'preview',
      '-f',
      'examples/cio-sync.yaml',
      '--input',
      join(dir, 'none.ndjson'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${join(dir, 'none.ndjson')}: cannot read the input file: ENOENT`);
    const source = await preview([
      'preview',
      '-f',
      'examples/cio-sync.yaml',
      '--input',
      'examples/sample-calls.ndjson',
      '--source',
      'app',
    ]);
    expect(source).toMatchObject({
      code: 2,
      stderr: 'invalid input\n--source app: no such source (sources: web)\n',
    });
  });
});
