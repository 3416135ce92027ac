// Bundle entry for the worker: every workflow type, and nothing else.
export { cohortSyncWorkflow } from './cohort-sync.ts';
export { streamSyncWorkflow } from './stream-sync.ts';
export { backfillWorkflow } from './backfill.ts';
