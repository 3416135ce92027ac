// Bundle entry for the worker: every workflow type, and nothing else.
export { streamSyncWorkflow } from './stream-sync.ts';
