// Doc tests: the code in README.md and in the `@example` blocks of src/ is
// type-checked against the BUILT package and, where it is a whole program, run.
// Run `npm run build` first (`npm run test:docs` does both).
//
//   node scripts/doctest.mjs                        check everything
//   node scripts/doctest.mjs mutex README           only blocks whose place (file:line) contains a filter
//   node scripts/doctest.mjs --keep                 keep the scratch project and print where it is
//   node scripts/doctest.mjs --update-memory-table  rewrite the README's memory table from byteLength()
//
// What is checked
//   ```ts / ```js blocks  A scratch project outside the repository has node_modules/sabre linked to
//       the repository, so `sabre` and `sabre/testing` resolve through package.json "exports" to dist/,
//       as in a user's install (LINKED_PACKAGES are linked beside it, and types/*.d.ts, the
//       declarations a user writes for comlink's untyped node adapter, are copied in). Every
//       TypeScript file of every block goes into ONE tsc program with tsconfig.json's compiler
//       options (strict, NodeNext, its lib), noEmit, and skipLibCheck false for sabre's own .d.ts in
//       dist/ (other packages' declarations are not reported: comlink's need the DOM lib).
//       JavaScript files are parsed for syntax errors, and run when their block is a whole program.
//   ```sh blocks   not run: they install packages, or start the whole test suite or the 40 s demo,
//       which `npm test` runs anyway. Every `npm run X` / `npm test` in them must name a script of
//       package.json.
//   ```json blocks must parse.
//   the memory table   the table after `<!-- doctest: memory-table -->`: each row's figure must be
//       what `P.byteLength(options)` returns for the row's class and options.
//
// Conventions (a block's directive is an HTML comment on the line just above its fence, which
// GitHub does not show; an @example takes the same comment above its fence)
//   fragment (default)   The block is type-checked, not run. Like a Rust doctest's hidden
//       `use` lines and `fn main`, the doctest supplies:
//       - an import of every name it uses from `sabre`, `sabre/testing` and
//         scripts/doctest-context.ts (the reader's own things: `url`, `pool`, `req`, `render`, ...),
//         except the names the block declares or imports at its top level;
//       - unless the block has import/export statements, a wrapper `async function`, so the block
//         may `await` and `return` as the body of a handler.
//   `<!-- doctest: run -->`   A whole program: taken as written (no supplied imports, no wrapper),
//       type-checked, then run in its own directory: a `.js`/`.mjs` entry with node, a `.ts` entry
//       with tsx, a `*.test.ts`/`*.prop.ts` entry with vitest. It must exit with code 0 within
//       RUN_TIMEOUT_MS. `<!-- doctest: run prints "8000" -->`: its output must also contain 8000.
//   several files     `// file: NAME` on a line of its own (a comment may follow the name) starts a
//       file; lines before the first marker are `main.ts` (```ts) or `main.js` (```js). The first
//       file is the entry. Each file's extension says whether it is TypeScript.
//   `<!-- doctest: check -->`   The default, written out.
//   `<!-- doctest: skip REASON -->`   Not checked (the reason is printed).
//
// Ends with `N passed, M failed` and exits 1 on any failure.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const ts = require('typescript');

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUN_TIMEOUT_MS = 120_000;
/** Packages a doc block may import, linked into the scratch project (as a user would have installed them). */
const LINKED_PACKAGES = ['piscina', 'comlink', 'tsx', 'vitest', 'fast-check', '@fast-check/vitest', 'hono', 'ioredis', '@types/node'];
const CONTEXT_FILE = 'scripts/doctest-context.ts';
const WRAPPER = '__doctest';

const argv = process.argv.slice(2);
const keep = argv.includes('--keep');
const updateMemoryTable = argv.includes('--update-memory-table');
const filters = argv.filter((a) => !a.startsWith('--'));
const started = performance.now();
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `\n${detail.replace(/^/gm, '       ')}` : ''}`);
}

// ---------------------------------------------------------------------------
// Extraction

/** Fenced blocks of markdown `lines` (the text of line i is at source line `lineOf(i)`). */
function fencedBlocks(lines, file, lineOf) {
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    let end = i + 1;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
    const code = lines.slice(i + 1, end).map((l) => l.slice(Math.min(indent, /^\s*/.exec(l)[0].length)));
    const fence = i;
    blocks.push({
      file,
      line: lineOf(fence),
      lineOfCode: (k) => lineOf(fence + 1 + k),
      lang: open[2],
      code,
      directive: directiveAbove(lines, i),
    });
    i = end;
  }
  return blocks;
}

/** The text of a `<!-- doctest: ... -->` comment ending on the line above `i` (blank lines between allowed), or null. */
function directiveAbove(lines, i) {
  let j = i - 1;
  while (j >= 0 && lines[j].trim() === '') j--;
  if (j < 0 || !lines[j].trimEnd().endsWith('-->')) return null;
  let k = j;
  while (k >= 0 && !lines[k].includes('<!--')) k--;
  const text = lines.slice(k, j + 1).join('\n');
  const m = /<!--\s*doctest:([\s\S]*?)-->/.exec(text);
  return m ? m[1].trim() : null;
}

function readmeBlocks() {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  return fencedBlocks(lines, 'README.md', (i) => i + 1);
}

function sourceFiles(dir) {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The fenced blocks of every `@example` of every doc comment in src/. */
function exampleBlocks() {
  const blocks = [];
  for (const file of sourceFiles('src').sort()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
      const firstLine = text.slice(0, m.index).split('\n').length;
      const lines = m[0].split('\n').map((l) => l.replace(/^\s*\/?\*\*?\/? ?/, '').replace(/\s*\*\/$/, ''));
      for (let i = 0; i < lines.length; i++) {
        if (!/^@example\b/.test(lines[i])) continue;
        let end = i + 1;
        while (end < lines.length && !/^@\w+/.test(lines[end])) end++;
        const at = firstLine + i + 1;
        blocks.push(...fencedBlocks(lines.slice(i + 1, end), file, (k) => at + k));
        i = end - 1;
      }
    }
  }
  return blocks;
}

/** `{ mode: 'check' | 'run' | 'skip', prints: string[], reason }` of a block's directive. */
function parseDirective(text) {
  if (text === null) return { mode: 'check', prints: [] };
  const mode = /^(run|skip|check|memory-table)\b/.exec(text)?.[1];
  if (mode === undefined) throw new Error(`unknown doctest directive "${text}" (run, skip REASON, check, memory-table)`);
  return { mode, prints: [...text.matchAll(/\bprints\s+"([^"]*)"/g)].map((p) => p[1]), reason: text.slice(mode.length).trim() };
}

/** Splits a block at `// file: NAME` lines into `{ name, code: string[], firstLine }` parts. */
function filesOf(block) {
  const ext = block.lang === 'js' ? 'js' : 'ts';
  const files = [];
  let current = null;
  block.code.forEach((line, k) => {
    const marker = /^\/\/ file: (\S+)/.exec(line);
    if (marker) {
      current = { name: marker[1], code: [], firstLine: k + 1 };
      files.push(current);
      return;
    }
    if (current === null) {
      if (line.trim() === '') return;
      current = { name: `main.${ext}`, code: [], firstLine: k };
      files.push(current);
    }
    current.code.push(line);
  });
  while (files.length > 0 && files.at(-1).code.length > 0 && files.at(-1).code.at(-1).trim() === '') files.at(-1).code.pop();
  for (const f of files) while (f.code.length > 0 && f.code.at(-1).trim() === '') f.code.pop();
  return files;
}

const isTs = (name) => /\.[mc]?ts$/.test(name);

// ---------------------------------------------------------------------------
// The scratch project

function scratchProject() {
  const dir = mkdtempSync(join(tmpdir(), 'sabre-doctest-'));
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
  mkdirSync(join(dir, 'node_modules/@fast-check'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules/sabre'), 'dir');
  for (const name of LINKED_PACKAGES) {
    const target = join(ROOT, 'node_modules', name);
    if (!existsSync(target)) throw new Error(`doctest: ${name} is not installed (npm install)`);
    symlinkSync(target, join(dir, 'node_modules', name), 'dir');
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'doctest', private: true, type: 'module' }, null, 2));
  writeFileSync(join(dir, 'context.ts'), readFileSync(join(ROOT, CONTEXT_FILE), 'utf8'));
  // What a user writes for modules that ship no types (comlink's node adapter): the project's own types/.
  mkdirSync(join(dir, 'types'));
  for (const name of readdirSync(join(ROOT, 'types')).filter((n) => n.endsWith('.d.ts')))
    writeFileSync(join(dir, 'types', name), readFileSync(join(ROOT, 'types', name)));
  return dir;
}

function compilerOptions(dir) {
  const { config, error } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const { options, errors } = ts.convertCompilerOptionsFromJson(config.compilerOptions, dir);
  if (errors.length > 0) throw new Error(errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, '\n')).join('\n'));
  for (const key of ['outDir', 'rootDir', 'declaration', 'sourceMap', 'incremental', 'tsBuildInfoFile']) delete options[key];
  return {
    ...options,
    noEmit: true,
    skipLibCheck: false,
    allowJs: true,
    checkJs: false,
    typeRoots: [join(dir, 'node_modules/@types')],
    types: ['node'],
  };
}

/** The names `sabre`, its subpaths and the context export, each with whether it is a value. */
function exportedNames(dir, options, host) {
  const probe = join(dir, '__probe.ts');
  const sources = {
    sabre: 'sabre',
    'sabre/testing': 'sabre/testing',
    'sabre/piscina': 'sabre/piscina',
    'sabre/comlink': 'sabre/comlink',
    'sabre/redis': 'sabre/redis',
    './context.js': './context.js',
  };
  writeFileSync(
    probe,
    Object.keys(sources)
      .map((s, i) => `import * as m${i} from '${s}';`)
      .join('\n') + '\nexport {};\n',
  );
  const program = ts.createProgram([probe], options, host);
  const checker = program.getTypeChecker();
  const names = new Map(); // name -> { from, value }
  const file = program.getSourceFile(probe);
  for (const statement of file.statements.filter(ts.isImportDeclaration)) {
    const from = statement.moduleSpecifier.text;
    const moduleSymbol = checker.getSymbolAtLocation(statement.moduleSpecifier);
    if (moduleSymbol === undefined) throw new Error(`doctest: cannot resolve '${from}' from the scratch project (is dist/ built?)`);
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const name = symbol.escapedName;
      if (name === 'default') continue;
      const previous = names.get(name);
      if (previous !== undefined && from === './context.js') {
        throw new Error(
          `doctest: ${CONTEXT_FILE} exports ${name}, which ${previous.from} exports too: a context name must not hide one of sabre's`,
        );
      }
      if (previous === undefined) names.set(name, { from, value: (target.flags & ts.SymbolFlags.Value) !== 0 });
    }
  }
  rmSync(probe);
  return { names, program };
}

/** Identifiers in `code` and the names declared or imported at its top level; whether it is a module. */
function scan(name, code) {
  const sf = ts.createSourceFile(name, code, ts.ScriptTarget.Latest, true, isTs(name) ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const used = new Set();
  const visit = (node) => {
    if (ts.isIdentifier(node)) used.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const declared = new Set();
  const bind = (n) => {
    if (n === undefined) return;
    if (ts.isIdentifier(n)) declared.add(n.text);
    else if (ts.isObjectBindingPattern(n) || ts.isArrayBindingPattern(n))
      n.elements.forEach((e) => !ts.isOmittedExpression(e) && bind(e.name));
  };
  let isModule = false;
  for (const s of sf.statements) {
    if (ts.isImportDeclaration(s)) {
      isModule = true;
      const c = s.importClause;
      bind(c?.name);
      if (c?.namedBindings && ts.isNamespaceImport(c.namedBindings)) bind(c.namedBindings.name);
      if (c?.namedBindings && ts.isNamedImports(c.namedBindings)) c.namedBindings.elements.forEach((e) => bind(e.name));
    } else if (ts.isExportDeclaration(s) || ts.isExportAssignment(s)) {
      isModule = true;
    } else {
      if (ts.canHaveModifiers(s) && ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) isModule = true;
      if (ts.isVariableStatement(s)) s.declarationList.declarations.forEach((d) => bind(d.name));
      else if ('name' in s && s.name !== undefined) bind(s.name);
    }
  }
  return { used, declared, isModule };
}

/**
 * The text of one file of a block, and where its lines come from: `{ text, origin(line) }`,
 * `origin` mapping a 0-based line of the text to a 1-based line of the block's source (or null
 * for a supplied line).
 */
function generate(block, file, mode, names, contextPath) {
  const code = file.code.join('\n');
  const source = (k) => block.lineOfCode(file.firstLine + k);
  if (mode === 'run' || !isTs(file.name)) return { text: `${code}\n`, origin: (l) => (l < file.code.length ? source(l) : null) };
  const { used, declared, isModule } = scan(file.name, code);
  const imports = new Map();
  for (const name of used) {
    const e = names.get(name);
    if (e === undefined || declared.has(name)) continue;
    const from = e.from === './context.js' ? contextPath : e.from;
    if (!imports.has(from)) imports.set(from, []);
    imports.get(from).push(e.value ? name : `type ${name}`);
  }
  const header = [...imports].map(([from, list]) => `import { ${list.sort().join(', ')} } from '${from}';`);
  header.push('export {};');
  if (!isModule) header.push(`async function ${WRAPPER}() {`);
  const footer = isModule ? [] : ['}'];
  const text = [...header, ...file.code, ...footer, ''].join('\n');
  return { text, origin: (l) => (l >= header.length && l < header.length + file.code.length ? source(l - header.length) : null) };
}

// ---------------------------------------------------------------------------
// Checks

function checkShell(block) {
  const wanted = [];
  for (const line of block.code) {
    const command = line.replace(/\s#.*$/, '');
    for (const m of command.matchAll(/\bnpm (?:run(?:-script)? ([\w:.-]+)|(test|start|stop|restart)\b)/g)) wanted.push(m[1] ?? m[2]);
  }
  const missing = wanted.filter((s) => !(s in (pkg.scripts ?? {})));
  check(
    missing.length === 0,
    `${block.file}:${block.line} sh: npm scripts exist (${wanted.join(', ') || 'none named'})`,
    missing.length ? `not in package.json: ${missing.join(', ')}` : '',
  );
}

function checkJson(block) {
  try {
    JSON.parse(block.code.join('\n'));
    check(true, `${block.file}:${block.line} json parses`);
  } catch (e) {
    check(false, `${block.file}:${block.line} json parses`, String(e));
  }
}

function formatBytes(n) {
  const exact = `${n.toLocaleString('en-US')} B`;
  if (n < 1024) return exact;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${exact} (${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]})`;
}

/** The README's memory table: the rows after `<!-- doctest: memory-table -->`, `| \`Class\` | \`options\` or nothing | bytes |`. */
function memoryTable() {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const at = lines.findIndex((l) => /<!--\s*doctest:\s*memory-table\s*-->/.test(l));
  const rows = [];
  if (at < 0) return { at, lines, rows };
  let i = at + 1;
  while (i < lines.length && !lines[i].startsWith('|')) i++;
  for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const cells = lines[i]
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    rows.push({ index: i, cells, cls: /^`(\w+)`$/.exec(cells[0])?.[1], options: /^`(.*)`$/.exec(cells[1])?.[1] });
  }
  return { at, lines, rows };
}

/** Each row's options type-check as the constructor's (so a renamed option fails): one TypeScript file, mapped to the rows. */
function memoryTableFile(table) {
  return table.rows.map((r) => `void new ${r.cls ?? 'UnknownClass'}(${r.options ?? ''});`);
}

/** Each row's figure is what `P.byteLength(options)` returns, or (with --update-memory-table) is made so. */
async function checkMemoryTable(table) {
  if (table.at < 0) {
    check(false, 'README.md has a memory table (<!-- doctest: memory-table -->)');
    return;
  }
  const sabre = await import(pathToFileURL(join(ROOT, 'dist/index.js')).href);
  const wrong = [];
  for (const row of table.rows) {
    const P = sabre[row.cls];
    if (typeof P?.byteLength !== 'function') {
      wrong.push(`README.md:${row.index + 1}: ${row.cls} has no byteLength`);
      continue;
    }
    const args = row.options === undefined ? [] : [new Function(`return (${row.options});`)()];
    const expected = formatBytes(P.byteLength(...args));
    if (row.cells.at(-1) === expected) continue;
    if (updateMemoryTable) {
      row.cells[row.cells.length - 1] = expected;
      table.lines[row.index] = `|${row.cells.map((c) => (c === '' ? ' ' : ` ${c} `)).join('|')}|`;
    } else {
      wrong.push(
        `README.md:${row.index + 1}: ${row.cls}.byteLength(${row.options ?? ''}) is ${expected}, the table says "${row.cells.at(-1)}"`,
      );
    }
  }
  if (updateMemoryTable) {
    writeFileSync(join(ROOT, 'README.md'), table.lines.join('\n'));
    console.log(`memory table: ${table.rows.length} rows written`);
  }
  check(
    wrong.length === 0 && table.rows.length > 0,
    `README.md:${table.at + 1} memory table matches byteLength() (${table.rows.length} rows)`,
    wrong.join('\n'),
  );
}

// ---------------------------------------------------------------------------

if (!existsSync(join(ROOT, 'dist/index.d.ts'))) {
  console.error('doctest: dist/ is missing: run `npm run build` first');
  process.exit(1);
}

const blocks = [...readmeBlocks(), ...exampleBlocks()].filter(
  (b) => filters.length === 0 || filters.some((f) => `${b.file}:${b.line}`.includes(f)),
);
const dir = scratchProject();
process.on('exit', () => {
  if (keep) console.log(`\nscratch project kept: ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});
const options = compilerOptions(dir);
const host = ts.createCompilerHost(options);
const probeStarted = performance.now();
const { names, program: probe } = exportedNames(dir, options, host);
const probeMs = performance.now() - probeStarted;

const programs = []; // { block, files: [{ name, path }], directive }
const generated = new Map(); // path -> { block, origin }
const counts = { ts: 0, js: 0, run: 0, sh: 0, json: 0, skipped: 0 };
for (const [index, block] of blocks.entries()) {
  const directive = parseDirective(block.directive);
  const place = `${block.file}:${block.line}`;
  if (directive.mode === 'skip') {
    counts.skipped++;
    console.log(`skip ${place}: ${directive.reason}`);
    continue;
  }
  if (block.lang === 'sh' || block.lang === 'bash') {
    counts.sh++;
    checkShell(block);
    continue;
  }
  if (block.lang === 'json') {
    counts.json++;
    checkJson(block);
    continue;
  }
  if (!['ts', 'js', 'typescript', 'javascript'].includes(block.lang)) continue;
  const blockDir = join(dir, `b${String(index).padStart(3, '0')}-${block.file.replace(/\W+/g, '_')}-${block.line}`);
  const files = filesOf(block).map((file) => {
    const path = join(blockDir, file.name);
    const contextPath = `${relative(dirname(path), join(dir, 'context.js')).replace(/^(?!\.)/, './')}`;
    const { text, origin } = generate(block, file, directive.mode, names, contextPath);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    generated.set(path, { block, origin, name: file.name });
    if (isTs(file.name)) counts.ts++;
    else counts.js++;
    return { name: file.name, path };
  });
  if (files.length > 0) programs.push({ block, files, directive, dir: blockDir });
}

const table = memoryTable();
if (table.rows.length > 0 && filters.length === 0) {
  const code = memoryTableFile(table);
  const block = { file: 'README.md', line: table.at + 1, lineOfCode: (k) => table.rows[k].index + 1, code, directive: null };
  const name = 'memory-table.ts';
  const path = join(dir, 'memory-table', name);
  const { text, origin } = generate(block, { name, code, firstLine: 0 }, 'check', names, '../context.js');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  generated.set(path, { block, origin, name });
  counts.ts++;
  programs.push({ block, files: [{ name, path }], directive: { mode: 'check', prints: [] }, dir: dirname(path) });
}

// One tsc program for every file of every block.
const checkStarted = performance.now();
const declarations = readdirSync(join(dir, 'types')).map((n) => join(dir, 'types', n));
const program = ts.createProgram([...declarations, ...generated.keys()], options, host, probe);
const createdMs = performance.now() - checkStarted;
const problems = new Map(); // path -> messages
// Checked: the blocks, the context, and every .d.ts of sabre's build (skipLibCheck is false for
// them). Other packages' declarations are not sabre's to fix (comlink's need the DOM lib).
const ownFiles = program
  .getSourceFiles()
  .filter(
    (f) =>
      generated.has(f.fileName) ||
      f.fileName === join(dir, 'context.ts') ||
      f.fileName.startsWith(join(dir, 'types/')) ||
      f.fileName.startsWith(join(ROOT, 'dist/')),
  );
const all = [
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...ownFiles.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]),
];
for (const d of all) {
  const path = d.file?.fileName;
  const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  const g = path === undefined ? undefined : generated.get(path);
  if (g === undefined) {
    // Outside the blocks: dist's .d.ts, a dependency's types, or the context file.
    const where = path === undefined ? '' : `${relative(dir, path)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: `;
    check(false, `type-check outside the blocks: ${where}TS${d.code}`, message);
    continue;
  }
  const { line } = d.file.getLineAndCharacterOfPosition(d.start);
  const from = g.origin(line);
  const text = `${g.block.file}:${from ?? `(supplied line of ${g.name})`}: TS${d.code}: ${message}`;
  if (!problems.has(path)) problems.set(path, []);
  problems.get(path).push(text);
}
// Deprecated names: the docs teach the current API. A use of anything marked `@deprecated` in
// sabre's types (a renamed method, an option's old name in an object literal) is an error here,
// as `--throw-deprecation` would make it at run time.
const checker = program.getTypeChecker();
const isDeprecated = (symbol) => symbol?.getJsDocTags(checker).some((t) => t.name === 'deprecated') === true;
const fromSabre = (symbol) => (symbol?.declarations ?? []).some((d) => d.getSourceFile().fileName.startsWith(join(ROOT, 'dist/')));
for (const [path, g] of generated) {
  const file = program.getSourceFile(path);
  if (file === undefined || !isTs(g.name)) continue;
  const visit = (node) => {
    let symbol;
    let name;
    if (ts.isPropertyAccessExpression(node)) {
      symbol = checker.getSymbolAtLocation(node.name);
      name = node.name.text;
    } else if (
      (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) &&
      ts.isObjectLiteralExpression(node.parent) &&
      ts.isIdentifier(node.name)
    ) {
      const contextual = checker.getContextualType(node.parent);
      name = node.name.text;
      const candidates = contextual === undefined ? [] : contextual.isUnion() ? contextual.types : [contextual];
      const props = candidates.map((t) => t.getProperty(name)).filter(Boolean);
      // Deprecated only when every type the literal may be read as deprecates it (a union with the new shape does not).
      symbol = props.length > 0 && props.every((p) => isDeprecated(p)) ? props[0] : undefined;
    }
    // A call or `new` that resolves to an overload marked deprecated (an options shape of before a rename).
    if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && symbol === undefined) {
      const declaration = checker.getResolvedSignature(node)?.declaration;
      if (
        declaration !== undefined &&
        fromSabre(checker.getSymbolAtLocation(node.expression)) &&
        ts.getJSDocTags(declaration).some((t) => t.tagName.text === 'deprecated')
      ) {
        symbol = checker.getSymbolAtLocation(node.expression);
        name = `${node.expression.getText(file)}(…) in its old form`;
        if (symbol !== undefined) {
          const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
          const text = `${g.block.file}:${g.origin(line) ?? `(supplied line of ${g.name})`}: uses the deprecated name \`${name}\``;
          if (!problems.has(path)) problems.set(path, []);
          problems.get(path).push(text);
        }
        symbol = undefined;
      }
    }
    if (symbol !== undefined && fromSabre(symbol) && isDeprecated(symbol)) {
      const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
      const text = `${g.block.file}:${g.origin(line) ?? `(supplied line of ${g.name})`}: uses the deprecated name \`${name}\``;
      if (!problems.has(path)) problems.set(path, []);
      problems.get(path).push(text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
}
const checkMs = performance.now() - checkStarted;

for (const { block, files, directive } of programs) {
  const messages = files.flatMap((f) => problems.get(f.path) ?? []);
  const what = `${block.file}:${block.line} ${files.map((f) => f.name).join(' + ')}`;
  check(
    messages.length === 0,
    `${what}: ${files.some((f) => isTs(f.name)) ? 'type-checks' : 'parses'}${directive.mode === 'run' ? '' : ' (fragment)'}`,
    messages.join('\n'),
  );
}

// Run the whole programs, one at a time (the machine is small and the programs start threads).
const runStarted = performance.now();
for (const { block, files, directive, dir: blockDir } of programs) {
  if (directive.mode !== 'run') continue;
  counts.run++;
  const entry = files[0].name;
  const bin = (p) => join(ROOT, 'node_modules', p);
  const command = /\.(test|prop)\.[mc]?ts$/.test(entry)
    ? [bin('vitest/vitest.mjs'), 'run', '--root', blockDir, '--config', writeVitestConfig(blockDir), entry]
    : isTs(entry)
      ? [bin('tsx/dist/cli.mjs'), entry]
      : [entry];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, command, {
    cwd: blockDir,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const ms = performance.now() - t0;
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const missing = directive.prints.filter((p) => !output.includes(p));
  const ok = r.status === 0 && missing.length === 0;
  const why = r.error
    ? String(r.error)
    : r.status !== 0
      ? `exit code ${r.status}${r.signal ? ` (${r.signal})` : ''}`
      : `output lacks ${missing.map((p) => JSON.stringify(p)).join(', ')}`;
  check(
    ok,
    `${block.file}:${block.line} runs: ${entry} (${(ms / 1000).toFixed(1)} s)`,
    ok ? '' : `${why}\n${output.trim().split('\n').slice(-30).join('\n')}`,
  );
}
const runMs = performance.now() - runStarted;

function writeVitestConfig(blockDir) {
  const path = join(blockDir, 'vitest.config.mjs');
  writeFileSync(path, `export default { test: { include: ['**/*.test.ts', '**/*.prop.ts'], testTimeout: 60_000 } };\n`);
  return path;
}

if (filters.length === 0 || updateMemoryTable) await checkMemoryTable(table);

const readme = blocks.filter((b) => b.file === 'README.md').length;
console.log(
  `\n${readme} README blocks, ${blocks.length - readme} @example blocks: ${counts.ts} TypeScript files type-checked in one program (${(probeMs / 1000).toFixed(1)} s to list the exports, ${(createdMs / 1000).toFixed(1)} s to load, ${((checkMs - createdMs) / 1000).toFixed(1)} s to check), ` +
    `${counts.js} JavaScript files parsed, ${counts.run} programs run (${(runMs / 1000).toFixed(1)} s), ${counts.sh} shell blocks, ${counts.json} JSON blocks, ${counts.skipped} skipped; ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s in all`,
);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
