// Builds dist/ from src/ with tsc: the package and nothing else. The output
// runs on plain Node (no tsx). Then checks package.json against it: every
// "exports" target (and its .d.ts) must exist, so a new entry point is one
// line in "exports" plus its module in src/.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const root = new URL('../', import.meta.url);
const require = createRequire(import.meta.url);
rmSync(new URL('dist', root), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });

const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const missing = [];
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target !== 'string')
    throw new Error(`package.json exports["${subpath}"]: expected a path string, got ${JSON.stringify(target)}`);
  const files = target.endsWith('.js') ? [target, target.replace(/\.js$/, '.d.ts')] : [target];
  for (const file of files) if (!existsSync(new URL(file, root))) missing.push(`${subpath} -> ${file}`);
}
if (missing.length > 0) {
  console.error(`build: package.json "exports" points at files the build did not make:\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
