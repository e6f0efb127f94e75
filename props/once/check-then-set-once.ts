/**
 * Test-only twin of Once: a check-then-set flag. It loads the flag, sees it
 * clear, runs fn, then sets the flag: every thread that loads "clear" before
 * the first run finishes runs fn too. Same surface as the Once methods the
 * property uses.
 */
import { load, store } from '../../src/memory/atomics.js';

const FLAG = 0,
  DONE = 1;

export class CheckThenSetOnce {
  constructor(private readonly words: Int32Array) {}

  run(fn: () => unknown): boolean {
    if (load(this.words, FLAG) === DONE) return false;
    fn(); // the bug: nothing claims the run before fn starts
    store(this.words, FLAG, DONE);
    return true;
  }

  async runAsync(fn: () => unknown): Promise<boolean> {
    if (load(this.words, FLAG) === DONE) return false;
    await fn();
    store(this.words, FLAG, DONE);
    return true;
  }
}
