// ESLint rule `local/no-import-cycle`: a relative import that leads, through any chain of relative
// imports, back to the importing file. Unlike import-x/no-cycle it counts `import type` too: a type
// shared by two modules belongs in a third that imports neither. Dynamic `import()` is not followed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

import ts from 'typescript';

/** file → { mtimeMs, imports: absolute paths }, kept for the whole lint run. */
const graph = new Map();

function resolveSpecifier(from, specifier) {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const target = resolve(dirname(from), specifier);
  if (existsSync(target)) return target;
  const asTs = target.replace(/\.js$/, '.ts');
  return asTs !== target && existsSync(asTs) ? asTs : undefined;
}

/** The files `file` imports statically (import and export … from, types included). */
function importsOf(file) {
  let mtimeMs;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return [];
  }
  const cached = graph.get(file);
  if (cached && cached.mtimeMs === mtimeMs) return cached.imports;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const imports = [];
  for (const statement of source.statements) {
    if (
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier &&
      ts.isStringLiteral(statement.moduleSpecifier)
    ) {
      const target = resolveSpecifier(file, statement.moduleSpecifier.text);
      if (target) imports.push(target);
    }
  }
  graph.set(file, { mtimeMs, imports });
  return imports;
}

/** The shortest chain of imports from `start` back to `file`, or undefined. */
function pathBack(start, file) {
  const parent = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift();
    if (current === file) {
      const chain = [];
      for (let at = current; at !== undefined; at = parent.get(at)) chain.unshift(at);
      return chain;
    }
    for (const next of importsOf(current)) {
      if (!parent.has(next)) {
        parent.set(next, current);
        queue.push(next);
      }
    }
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'disallow relative imports that lead back to the importing module' },
    schema: [],
    messages: { cycle: 'import circle: {{chain}}' },
  },
  create(context) {
    const file = context.filename;
    const check = (node) => {
      if (!node.source || typeof node.source.value !== 'string') return;
      const target = resolveSpecifier(file, node.source.value);
      if (!target) return;
      const chain = target === file ? [file] : pathBack(target, file);
      if (!chain) return;
      const names = [file, ...chain].map((f) => relative(context.cwd, f));
      context.report({ node: node.source, messageId: 'cycle', data: { chain: names.join(' → ') } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
