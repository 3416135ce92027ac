import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterAll, describe, expect, it } from 'vitest';

import noImportCycle from '../scripts/lint/no-import-cycle.js';

// The rule `npm run check` (and so CI) runs on every .ts file: a circle must fail it, type imports too.
const dir = mkdtempSync(join(tmpdir(), 'cio-sync-cycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lint(files: Record<string, string>, file: string): Linter.LintMessage[] {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const linter = new Linter({ cwd: dir, configType: 'flat' });
  return linter.verify(
    files[file]!,
    [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser as Linter.Parser },
        plugins: { local: { rules: { 'no-import-cycle': noImportCycle } } },
        rules: { 'local/no-import-cycle': 'error' },
      },
    ],
    { filename: join(dir, file) },
  );
}

describe('local/no-import-cycle', () => {
  it('reports a circle through three modules, naming the chain', () => {
    const messages = lint(
      {
        'a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
        'b.ts': "import { c } from './c.ts';\nexport const b = c;\n",
        'c.ts': "import { a } from './a.ts';\nexport const c = () => a;\n",
      },
      'a.ts',
    );
    expect(messages.map((m) => [m.ruleId, m.severity, m.message])).toEqual([
      ['local/no-import-cycle', 2, 'import circle: a.ts → b.ts → c.ts → a.ts'],
    ]);
  });

  it('counts type-only imports and re-exports', () => {
    const messages = lint(
      {
        'd.ts': "import type { E } from './e.ts';\nexport type D = { e?: E };\n",
        'e.ts': "export type { D as E } from './d.ts';\n",
      },
      'd.ts',
    );
    expect(messages.map((m) => m.message)).toEqual(['import circle: d.ts → e.ts → d.ts']);
  });

  it('passes a tree, packages and a missing file', () => {
    const messages = lint(
      {
        'f.ts':
          "import { g } from './g.ts';\nimport { z } from 'zod';\nimport { h } from './missing.ts';\nexport const f = [g, z, h];\n",
        'g.ts': 'export const g = 1;\n',
      },
      'f.ts',
    );
    expect(messages).toEqual([]);
  });
});
