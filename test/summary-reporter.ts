import type { Reporter, TestModule } from 'vitest/node';

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Ends a run with the plain line `N passed, N failed` (CI reads that line, not vitest's summary),
 * after one indented line per tier (vitest project) when the run has more than one.
 * Skipped tests are counted apart; a file that failed to load counts as one failure.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    const total: Tally = { passed: 0, failed: unhandledErrors.length, skipped: 0 };
    const tiers = new Map<string, Tally & { files: number }>();
    for (const mod of testModules) {
      const tier = mod.project.name;
      const here = tiers.get(tier) ?? { passed: 0, failed: 0, skipped: 0, files: 0 };
      tiers.set(tier, here);
      here.files++;
      let failedHere = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') here.passed++;
        else if (state === 'failed') failedHere++;
        else here.skipped++;
      }
      // A file whose setup failed leaves its tests skipped: count the file itself as a failure.
      if (failedHere === 0 && mod.state() === 'failed') failedHere = 1;
      here.failed += failedHere;
    }
    for (const tally of tiers.values()) {
      total.passed += tally.passed;
      total.failed += tally.failed;
      total.skipped += tally.skipped;
    }
    const line = ({ passed, failed, skipped }: Tally) =>
      `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    let text = '\n';
    if (tiers.size > 1) {
      for (const [tier, tally] of tiers)
        text += `  ${tier || '(no tier)'}: ${line(tally)} in ${tally.files} files\n`;
    }
    process.stdout.write(`${text}${line(total)}\n`);
  }
}
