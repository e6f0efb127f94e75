/**
 * A mutant's sandbox: a folder with the mutated source file and the
 * mutant's program, each relative import rewritten to the real file it
 * named (or to the mutated copy), so that everything but the one changed
 * file is the real tree's module, shared with the harness.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Mutant } from './mutant.js';

export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');

/** The source of `file` (from the root) with `find` replaced; throws unless `find` occurs exactly once. */
export function mutatedSource(m: Pick<Mutant, 'id' | 'file' | 'find' | 'replace'>): string {
  const text = readFileSync(join(ROOT, m.file), 'utf8');
  const count = text.split(m.find).length - 1;
  if (count !== 1)
    throw new Error(`mutant ${m.id}: its text occurs ${count} times in ${m.file}, not once: the source changed, update the mutant`);
  return text.replace(m.find, m.replace);
}

/** `source` (of the file at `from`) with each relative import pointing at the real file, or at `mapped` for the mutated one. */
function rewriteImports(source: string, from: string, mapped: ReadonlyMap<string, string>): string {
  return source.replace(/(from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g, (_all, head: string, spec: string) => {
    const target = resolve(dirname(from), spec).replace(/\.js$/, '.ts');
    return `${head}'${mapped.get(target) ?? pathToFileURL(target).href}'`;
  });
}

/** Writes the sandbox of `m` (mutated or, with `original`, the real file) and returns its program's URL. */
export function sandbox(m: Mutant, options: { original?: boolean } = {}): URL {
  const dir = join(tmpdir(), 'sabre-mutants', `${process.pid}`, options.original ? `${m.id}-original` : m.id);
  mkdirSync(join(dir, 'mutated'), { recursive: true });
  mkdirSync(join(dir, 'program'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n'); // ES modules, as in the repository
  const real = join(ROOT, m.file);
  const copy = join(dir, 'mutated', basename(m.file));
  const mapped = new Map([[real, pathToFileURL(copy).href]]);
  const source = options.original ? readFileSync(real, 'utf8') : mutatedSource(m);
  writeFileSync(copy, rewriteImports(source, real, new Map()));
  const programPath = join(ROOT, 'props/mutants/programs', m.program);
  const program = join(dir, 'program', basename(m.program));
  writeFileSync(program, rewriteImports(readFileSync(programPath, 'utf8'), programPath, mapped));
  return pathToFileURL(program);
}
