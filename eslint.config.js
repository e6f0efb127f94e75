// ESLint flat config: typescript-eslint's strict and stylistic type-checked rules on every
// TypeScript file, tuned below where a rule does not fit this codebase (each with its reason),
// and the atomics seam: within src/, only src/memory/atomics.ts may touch `Atomics`.
// Formatting is Prettier's (`npm run format`); no rule here is about layout.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Every shared-memory step in src/ goes through src/memory/atomics.ts, where `sabre/testing`
 * inserts its yield points: a direct `Atomics.*` elsewhere would be a step the harness never
 * sees. `no-restricted-globals` catches every reference to the global (`Atomics.load`,
 * `Atomics['wait']`, `const A = Atomics`), `no-restricted-properties` the one spelling that
 * does not name it as a variable (`globalThis.Atomics`). Exported so a test can check that
 * the rule catches each spelling.
 */
export const atomicsSeam = {
  name: 'sabre/atomics-seam',
  files: ['src/**/*.{ts,mts,cts,js,mjs}'],
  ignores: ['src/memory/atomics.ts'],
  rules: {
    'no-restricted-globals': [
      'error',
      { name: 'Atomics', message: 'Route shared-memory steps through src/memory/atomics.ts (the seam), so the testing harness sees them.' },
    ],
    'no-restricted-properties': [
      'error',
      { object: 'globalThis', property: 'Atomics', message: 'Route shared-memory steps through src/memory/atomics.ts (the seam).' },
    ],
  },
};

const TS = ['**/*.{ts,mts,cts}'];
const JS = ['**/*.{js,mjs,cjs}'];

export default defineConfig(
  {
    name: 'sabre/ignores',
    ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'examples/out/**', 'scratch/**'],
  },
  {
    name: 'sabre/language',
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        // One program for the whole lint: tsconfig.eslint.json covers every linted file.
        project: './tsconfig.eslint.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    name: 'sabre/typescript',
    files: TS,
    extends: [tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    rules: {
      // Asked for by name: a promise nobody awaits, or one handed where a void callback is
      // expected, loses its rejection; a deprecated name is on its way out.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-deprecated': 'error',

      // noUncheckedIndexedAccess types every array and typed-array read `T | undefined`; at an
      // index the code has bounds-checked, `!` says so for free, where `?? 0` would hide a bug.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers (bigints too) and booleans print as themselves: `${n} ms` is how messages and tables
      // are written. Objects, arrays, null and undefined in a template are still errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => mutex.unlock()` is a callback that returns nothing, written short; the rule still
      // catches a void value used as a value anywhere else.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // An `async` function without `await` is how a synchronous body keeps a promise contract
      // (a throw becomes a rejection): `[Symbol.asyncDispose]`, `query()`, async callbacks.
      '@typescript-eslint/require-await': 'off',
      // `() => {}` is a deliberate no-op: a swallowed rejection, a keep-alive timer, a promise that
      // never settles. An empty named function or method still needs a comment saying why.
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
      // The code checks at run time what the types say cannot happen: arguments from JavaScript
      // callers and from other threads, JSON.stringify's undefined, a `w?.stop()` after a failed
      // beforeAll; and TypeScript does not see a flag set inside a callback (`let found = false;
      // table.compute(k, () => { found = … })`). Nearly every report here was one of those.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // A parameter's type is not always its default's: in a callback handed to a generic (the
      // seam's wrappers in src/memory/atomics.ts), `count: number = Infinity` would infer unknown.
      '@typescript-eslint/no-inferrable-types': ['error', { ignoreParameters: true }],
      // A leading underscore marks a name unused on purpose (a placeholder parameter, `infer _K`),
      // and `const { dropped, ...rest } = o` is how a key is left out of a copy.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // An overload with a doc of its own (`@internal`, `@deprecated`) stays apart, so that its doc
      // applies to it alone.
      '@typescript-eslint/unified-signatures': ['error', { ignoreOverloadsWithDifferentJSDoc: true }],
      // Passing on what was thrown, unchanged, is the contract of every `execute`/`request`:
      // a caught `unknown` (or an AbortSignal's `any` reason) is rejected as it came.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true, allowThrowingAny: true }],
    },
  },
  {
    // Everything that is not the package: tests, properties, their programs and workers,
    // examples and benchmarks. The promise rules stay on here as everywhere.
    name: 'sabre/not-the-package',
    files: ['test/**', 'props/**', 'workers/**', 'examples/**', 'bench/**', 'scripts/**'],
    rules: {
      // A program that returns nothing is `defineProgram<Shared, Input, void>(...)`: void as a
      // call's type argument, which this rule forbids by design.
      '@typescript-eslint/no-invalid-void-type': 'off',
    },
  },
  {
    name: 'sabre/tests',
    files: ['test/**'],
    rules: {
      // Tests throw and reject with non-Errors on purpose, to check that they pass through unchanged.
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      // A test of a deprecated name has to use it. An accidental use cannot pass anyway: the tests
      // run with --throw-deprecation (vitest.config.ts) unless they capture the warning on purpose.
      '@typescript-eslint/no-deprecated': 'off',
      // vitest's asymmetric matchers (`expect.any(Number)`, `expect.stringMatching(...)`) are typed any.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // Plain JavaScript (bootstraps, scripts, the smoke test): no types to check against, so the
    // type-checked rule sets stay off, but promises are still followed through inferred types.
    name: 'sabre/javascript',
    files: JS,
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  atomicsSeam,
);
