import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

import noImportCycle from './scripts/lint/no-import-cycle.js';

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'reports/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Code a reader can hold in their head: no function over 120 lines, no module over 400, in
    // every file of src/ (tests live in test/).
    files: ['src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // No import circles: a module and everything it imports must form a tree, so each layer can be
    // read (and loaded) without the ones above it. `import type` counts too: a type shared by two
    // modules belongs in a third that imports neither.
    // (scripts/lint/no-import-cycle.js; import-x/no-cycle skips type imports.)
    files: ['**/*.ts'],
    plugins: { local: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: { 'local/no-import-cycle': 'error' },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: it may import @temporalio/workflow,
    // other workflow files, src/config/spec-rules.ts, and types. Anything else (Node built-ins, undici, the store, config
    // loading) belongs in activities.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Exceptions: ../config/spec-rules.ts (pure, no zod: every module the bundle imports is
              // evaluated again for each workflow) holds the spec rules workflows apply themselves;
              // ../customerio/policy.ts is pure data and one function: the
              // names of holds and failure types must be the same ones the activities raise.
              regex:
                '^(?!@temporalio/workflow$|\\./[^/]+\\.ts$|\\.\\./config/spec-rules\\.ts$|\\.\\./customerio/policy\\.ts$).*',
              allowTypeImports: true,
              message:
                'Workflow code is sandboxed: import only @temporalio/workflow, sibling workflow files, ../config/spec-rules.ts, ../customerio/policy.ts, or types (`import type`). Do I/O in an activity.',
            },
          ],
        },
      ],
    },
  },
  {
    // Settings are read in one place (src/settings.ts): a process reading a variable by name
    // elsewhere would have its own default and its own idea of a valid value. Passing the whole
    // environment on (for a config's `${ENV}` references, or to a child process) is fine.
    files: ['src/**/*.ts'],
    ignores: ['src/settings.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "MemberExpression[object.type='MemberExpression'][object.object.name='process'][object.property.name='env']",
          message:
            'Read settings through loadSettings() (src/settings.ts), where each variable is named, defaulted and parsed once.',
        },
      ],
    },
  },
  {
    files: ['**/*.js', 'bin/**'],
    ...tseslint.configs.disableTypeChecked,
  },
);
