import type { Rule } from 'eslint';

/** The `local/no-import-cycle` rule (no-import-cycle.js), typed for its test. */
declare const noImportCycle: Rule.RuleModule;
export default noImportCycle;
