import { readFile } from 'node:fs/promises';

import { CronExpressionParser } from 'cron-parser';
import { LineCounter, isMap, isSeq, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';

import { Config } from './schema.ts';

export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** The field, as a path: `syncs[0].events.filter.where[1].op`. */
  field: string;
  message: string;
}

/** A config file that does not parse or validate; `problems` names each file line and field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

/** The deepest YAML node that exists along `path`, so an error points at the closest line. */
function nodeAt(root: Node | null, path: readonly PropertyKey[], keyOnly: boolean): Node | null {
  let node: Node | null = root;
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) return node;
      const last = i === path.length - 1;
      node = (last && keyOnly ? pair.key : (pair.value ?? pair.key)) as Node | null;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

function describeIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string; keyOnly: boolean } {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    return {
      path: [...issue.path, ...(keys.length === 1 ? [keys[0] as string] : [])],
      message: `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`,
      keyOnly: true,
    };
  }
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return {
      path: [...issue.path],
      message: `required field is missing (expected ${issue.expected})`,
      keyOnly: false,
    };
  }
  return { path: [...issue.path], message: issue.message, keyOnly: false };
}

/** Where each field of a config text is: line and column of the closest node along a field path. */
export function configPositions(
  text: string,
): (path: readonly PropertyKey[]) => { line: number; column: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  return (path) => {
    const { line, col } = lineCounter.linePos(nodeAt(doc.contents, path, false)?.range?.[0] ?? 0);
    return { line, column: col };
  };
}

/** Parses and validates config text. Throws ConfigError with a file line for every problem. */
export function parseConfig(text: string, file = '<config>'): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const position = (offset: number) => lineCounter.linePos(offset);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err) => {
        const { line, col } = position(err.pos[0]);
        return { file, line, column: col, field: '', message: `invalid YAML: ${err.message.split('\n')[0]}` };
      }),
    );
  }
  let value: unknown;
  try {
    // Aliases are resolved here: an unknown one, an alias bomb (yaml caps their count) or nesting
    // too deep for the converter is a problem of the file, not a crash of the loader.
    value = doc.toJS();
  } catch (err) {
    throw new ConfigError([
      {
        file,
        line: 1,
        column: 1,
        field: '',
        message: `invalid YAML: ${(err as Error).message.split('\n')[0]}`,
      },
    ]);
  }
  const result = Config.safeParse(value ?? {});
  const issues: Array<{ path: PropertyKey[]; message: string; keyOnly: boolean }> = result.success
    ? cronProblems(result.data)
    : result.error.issues.map(describeIssue);
  if (result.success && issues.length === 0) return result.data;
  throw new ConfigError(
    issues
      .map(({ path, message, keyOnly }) => {
        const node = nodeAt(doc.contents, path, keyOnly);
        const { line, col } = position(node?.range?.[0] ?? 0);
        return { file, line, column: col, field: fieldName(path), message };
      })
      .sort((a, b) => a.line - b.line || a.column - b.column),
  );
}

/** Cron cadences in full (the schema checks their shape only: it must stay sandbox-safe). */
function cronProblems(config: Config): Array<{ path: PropertyKey[]; message: string; keyOnly: boolean }> {
  const problems: Array<{ path: PropertyKey[]; message: string; keyOnly: boolean }> = [];
  config.syncs.forEach((sync, i) => {
    if (sync.type !== 'cohort' || sync.cadence.kind !== 'cron') return;
    try {
      CronExpressionParser.parse(sync.cadence.expression, { tz: 'UTC' });
    } catch (err) {
      const message = `invalid cron line: ${(err as Error).message}`;
      problems.push({ path: ['syncs', i, 'cadence'], message, keyOnly: false });
    }
  });
  return problems;
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([
      { file, line: 0, column: 0, field: '', message: `cannot read config: ${reason}` },
    ]);
  }
  return parseConfig(text, file);
}
