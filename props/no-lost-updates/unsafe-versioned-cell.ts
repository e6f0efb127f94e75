/**
 * Test-only twin of VersionedCell<number>: the version check and the version
 * bump are separate steps (load the version, compare, write the value, store
 * version + 1), not one compare-and-swap. Two writers that both pass the
 * check both "succeed" against the same version, and one update is lost.
 */
import { load, store } from '../../src/memory/atomics.js';
import { ConflictError, isSabreError } from '../../src/errors.js';

const VERSION = 0,
  VALUE = 1;
export const UNSAFE_CELL_WORDS = 2;

export class UnsafeVersionedCell {
  constructor(private readonly words: Int32Array) {}

  read(): { value: number; version: number } {
    const version = load(this.words, VERSION);
    return { value: load(this.words, VALUE), version };
  }

  write(value: number, expectedVersion: number): number {
    const version = load(this.words, VERSION);
    if (version !== expectedVersion) throw new ConflictError(`expected version ${expectedVersion}, found ${version}`);
    store(this.words, VALUE, value);
    store(this.words, VERSION, version + 1); // the bug: the bump is not the step that checked
    return version + 1;
  }

  update(fn: (value: number) => number, options: { retries: number }): void {
    for (let attempt = 0; ; attempt++) {
      const { value, version } = this.read();
      try {
        this.write(fn(value), version);
        return;
      } catch (e) {
        if (!isSabreError(e, 'ERR_CONFLICT') || attempt >= options.retries) throw e;
      }
    }
  }
}
