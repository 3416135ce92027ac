/**
 * The Store contract as tests, run against every backend (sqlite.test.ts, postgres.test.ts): one
 * suite, so the backends cannot drift apart in behaviour. Each concern's part is a file of its own
 * (<concern>.contract.ts), like the concern folders under src/store/.
 */
import { describeAppendNewContract } from './append-new.contract.ts';
import { describeBackfillContract } from './backfills.contract.ts';
import { describeCaptureContract } from './captures.contract.ts';
import { describeCohortContract } from './cohorts.contract.ts';
import { describeDeadLetterContract } from './dead-letters.contract.ts';
import { type StoreBackend, useStoreContract } from './harness.ts';
import { describeLogContract } from './log.contract.ts';
import { describeMigrationContract } from './migrations.contract.ts';
import { describeProgressContract } from './progress.contract.ts';
import { describeRateLimitContract } from './rate-limit.contract.ts';
import { describeStateContract } from './state.contract.ts';
import { describeUserContract } from './users.contract.ts';

export { rec, type StoreBackend } from './harness.ts';

/** Registers the whole contract: every concern's part, against one backend. */
export function describeStoreContract(backend: StoreBackend): void {
  const contract = useStoreContract(backend);
  describeLogContract(contract);
  describeAppendNewContract(contract);
  describeBackfillContract(contract);
  describeDeadLetterContract(contract);
  describeProgressContract(contract);
  describeCaptureContract(contract);
  describeRateLimitContract(contract);
  describeStateContract(contract);
  describeUserContract(contract);
  describeMigrationContract(contract);
  describeCohortContract(contract);
}
