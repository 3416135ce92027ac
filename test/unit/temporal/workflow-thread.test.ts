import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { semiSpaceFlagOf } from '../../../src/temporal/workflow-thread.ts';

describe('semiSpaceFlagOf', () => {
  it('reads the flag from the command line, either spelling, = or a separate value, the last one', () => {
    expect(semiSpaceFlagOf(['--max-old-space-size=320', '--max-semi-space-size=32'])).toBe(32);
    expect(semiSpaceFlagOf(['--max_semi_space_size', '16'])).toBe(16);
    expect(semiSpaceFlagOf(['--max-semi-space-size=8', '--max-semi-space-size=24'])).toBe(24);
  });

  it('falls back on NODE_OPTIONS, and on 0 (V8 chooses) when neither sets it', () => {
    expect(semiSpaceFlagOf([], '--require x.cjs  --max-semi-space-size=24')).toBe(24);
    expect(semiSpaceFlagOf(['--max-semi-space-size=32'], '--max-semi-space-size=24')).toBe(32);
    expect(semiSpaceFlagOf(['--max-old-space-size=320'], '')).toBe(0);
    expect(semiSpaceFlagOf(['--max-semi-space-size=lots'])).toBe(0);
  });
});

describe('withNewIsolateSemiSpace', () => {
  it('gives a thread started meanwhile the smaller young generation, and later ones the process’s own', async () => {
    // A process started as the worker is (32 MB semi-spaces), in which one thread starts inside the
    // call and one after it; V8's heap limit counts the young generation.
    const helper = pathToFileURL(
      resolve(import.meta.dirname, '../../../src/temporal/workflow-thread.ts'),
    ).href;
    const script = `
      import { Worker } from 'node:worker_threads';
      import { getHeapStatistics } from 'node:v8';
      import { withNewIsolateSemiSpace } from '${helper}';
      const mb = (bytes) => Math.round(bytes / 1048576);
      const threadLimit = () => new Promise((done, fail) => {
        const thread = new Worker(
          "const { getBuiltinModule: get } = process; get('node:worker_threads').parentPort.postMessage(get('node:v8').getHeapStatistics().heap_size_limit)",
          { eval: true },
        );
        thread.once('message', (limit) => { void thread.terminate(); done(mb(limit)); });
        thread.once('error', fail);
      });
      const during = await withNewIsolateSemiSpace(8, process.env, threadLimit);
      const after = await threadLimit();
      console.log(JSON.stringify({ main: mb(getHeapStatistics().heap_size_limit), during, after }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--max-old-space-size=320', '--max-semi-space-size=32', '--input-type=module', '-e', script],
      { env: { ...process.env, NODE_OPTIONS: '' } },
    );
    const limits = JSON.parse(stdout) as { main: number; during: number; after: number };
    // Three semi-spaces' worth (V8's young generation) of 24 MB less for the thread started meanwhile.
    expect(limits.main - limits.during).toBe(3 * (32 - 8));
    expect(limits.after).toBe(limits.main);
  });
});
