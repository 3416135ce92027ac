/**
 * Replay safety: histories recorded from real runs of each workflow (scripts/record-histories.ts)
 * replayed against the current workflow code. A change that would not replay a running sync's
 * history — a command added, removed or reordered without `patched()` — fails here, before it can
 * break syncs that have been running for months.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

import { ROOT } from './helpers/processes.ts';

const DIR = join(ROOT, 'test/replay');
const files = (await readdir(DIR)).filter((f) => f.endsWith('.history.bin')).sort();

describe('recorded histories replay on the current workflow code', () => {
  it('has a history of each workflow', () => {
    const workflows = new Set(files.map((f) => f.split('.')[0]));
    expect([...workflows].sort()).toEqual(['cohort-sync', 'stream-sync']);
  });

  it.each(files)('%s', async (file) => {
    const bundle = inject('workflowBundlePath');
    if (!bundle) return; // CIO_SYNC_NO_TEMPORAL=1: no bundle was built
    const history = proto.temporal.api.history.v1.History.decode(await readFile(join(DIR, file)));
    // Throws DeterminismViolationError (or the workflow's own error) when the code no longer fits.
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: bundle } },
      history,
      file.replace('.history.bin', ''),
    );
  });
});
