// Child process of the smoke test: loads the given package entries with the
// optional peer dependencies (piscina, comlink) made unresolvable, and prints
// one JSON line: which entries loaded, and whether the block itself works
// (importing a blocked package must fail, or this check proves nothing).
//
//   node test/smoke/without-peers.mjs sabre sabre/testing
import { register } from 'node:module';

const BLOCKED = ['piscina', 'comlink'];
const hooks = `
const blocked = ${JSON.stringify(BLOCKED)};
export async function resolve(specifier, context, next) {
  if (blocked.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    const error = new Error('blocked optional peer dependency: ' + specifier + ' (imported by ' + context.parentURL + ')');
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

const outcome = { loaded: {}, blocked: {} };
for (const entry of process.argv.slice(2)) {
  try {
    const m = await import(entry);
    outcome.loaded[entry] = Object.keys(m).length;
  } catch (e) {
    outcome.loaded[entry] = `${e.code ?? e.name}: ${e.message}`;
  }
}
for (const name of BLOCKED) {
  try {
    await import(name);
    outcome.blocked[name] = false;
  } catch (e) {
    outcome.blocked[name] = e.code === 'ERR_MODULE_NOT_FOUND' && e.message.startsWith('blocked');
  }
}
console.log(JSON.stringify(outcome));
