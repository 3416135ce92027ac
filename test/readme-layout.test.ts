import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** The `## Layout` code block of docs/development.md. */
async function layoutBlock(): Promise<string> {
  const page = await readFile(join(ROOT, 'docs/development.md'), 'utf8');
  const section = page.slice(page.indexOf('## Layout'));
  const start = section.indexOf('```\n') + 4;
  return section.slice(start, section.indexOf('```', start));
}

/** `src/metrics*.ts` as a pattern. */
function pattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
}

it('the layout in docs/development.md names every folder and module at the top of src/, and nothing that is not there', async () => {
  const block = await layoutBlock();
  const named = [...block.matchAll(/\b((?:src|test|bench|scripts)\/[\w*.-]*\/?)/g)].map((m) => m[1]!);
  const entries = await readdir(join(ROOT, 'src'), { withFileTypes: true });
  const actual = entries
    .filter((e) => e.isDirectory() || (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')))
    .map((e) => (e.isDirectory() ? `src/${e.name}/` : `src/${e.name}`));
  const unnamed = actual.filter((path) => !named.some((n) => pattern(n).test(path)));
  expect(unnamed, 'in src/ but not in the layout of docs/development.md').toEqual([]);
  const top = new Set([...(await readdir(ROOT)).map((name) => name)]);
  const missing = named.filter((n) => {
    if (n.includes('*')) return !actual.some((path) => pattern(n).test(path));
    const [first, ...rest] = n.replace(/\/$/, '').split('/');
    if (first !== 'src') return !top.has(first!) || (rest.length > 0 && rest[0] !== '');
    return !actual.includes(n);
  });
  expect(missing, 'in the layout of docs/development.md but not in the tree').toEqual([]);
});
