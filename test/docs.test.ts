import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { PAGE as CONFIG_PAGE, withReference } from '../scripts/config-reference.ts';
import { PAGE as ENVIRONMENT_PAGE, withSettings } from '../scripts/settings-table.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** The README's budget: what cio-sync is, the quick start, how it works, and an index of docs/. */
const README_LIMIT = 12_288;

async function pages(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md'));
  return [join(ROOT, 'README.md'), ...docs.map((name) => join(ROOT, 'docs', name))];
}

/** The page without its fenced code blocks and inline code, where `[x](y)` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a page's headings make (a repeated heading gets -1, -2, … as on GitHub). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const match of markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(match[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

describe('the docs', () => {
  it('keep the README to 12 KB: what it is, the quick start, how it works and an index of docs/', async () => {
    const { size } = await stat(join(ROOT, 'README.md'));
    expect(size, 'README.md bytes (move detail into a docs/ page)').toBeLessThanOrEqual(README_LIMIT);
  });

  it('link only to files and headings that exist (every relative link of README.md and docs/*.md)', async () => {
    const broken: string[] = [];
    for (const page of await pages()) {
      const text = await readFile(page, 'utf8');
      for (const match of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/i.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? page : resolve(dirname(page), decodeURIComponent(path));
        const where = `${relative(ROOT, page)}: ${target}`;
        if (!existsSync(file)) broken.push(`${where} (no such file)`);
        else if (anchor !== undefined && file.endsWith('.md')) {
          if (!anchors(await readFile(file, 'utf8')).has(anchor)) broken.push(`${where} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('docs/configuration.md is the config schema’s own field descriptions (npm run docs:config rewrites it)', async () => {
    const page = await readFile(CONFIG_PAGE, 'utf8');
    expect(page).toBe(await withReference(page));
  });

  it('docs/environment.md is src/settings.ts’s list of settings (npm run docs:settings rewrites it)', async () => {
    const page = await readFile(ENVIRONMENT_PAGE, 'utf8');
    expect(page).toBe(await withSettings(page));
  });
});
