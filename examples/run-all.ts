/**
 * Runs every numbered example (`examples/NN-*.ts`) in order, each in its own
 * process under tsx, with a heading per example. Arguments (such as
 * `--quick`) are passed through. Exits 1 if any example fails, since each
 * example checks its own output.
 *
 *   npx tsx examples/run-all.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** An example that takes longer than this is stopped and counted as failed (it has hung). */
const EXAMPLE_TIMEOUT_MS = 180_000;

const args = process.argv.slice(2);
const dir = new URL('./', import.meta.url);
const tsxCli = fileURLToPath(import.meta.resolve('tsx/cli'));
const examples = readdirSync(dir)
  .filter((name) => /^\d\d-.*\.ts$/.test(name))
  .sort();

function runExample(name: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    // --throw-deprecation (for tsx's own child and every thread): the examples teach the current API, so a deprecated name fails them.
    const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --throw-deprecation`.trim() };
    const child = spawn(process.execPath, [tsxCli, fileURLToPath(new URL(name, dir)), ...args], { stdio: 'inherit', env });
    const timer = setTimeout(() => {
      console.error(`\n${name}: still running after ${EXAMPLE_TIMEOUT_MS / 1000} s, stopping it`);
      child.kill('SIGKILL');
    }, EXAMPLE_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

if (examples.length === 0) {
  console.error('no examples found (examples/NN-*.ts)');
  process.exit(1);
}

const failed: string[] = [];
for (const name of examples) {
  const title = `${name}${args.length > 0 ? ` ${args.join(' ')}` : ''}`;
  console.log(`\n${'='.repeat(title.length + 4)}\n  ${title}\n${'='.repeat(title.length + 4)}\n`);
  const started = performance.now();
  const { code, signal } = await runExample(name);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (code === 0) {
    console.log(`\n${name}: passed in ${seconds} s`);
  } else {
    console.log(`\n${name}: FAILED (${signal !== null ? `killed by ${signal}` : `exit code ${code}`}) after ${seconds} s`);
    failed.push(name);
  }
}

console.log(
  `\n${examples.length - failed.length} of ${examples.length} examples passed${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}`,
);
process.exit(failed.length > 0 ? 1 : 0);
