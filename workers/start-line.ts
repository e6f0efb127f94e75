/**
 * The start line of the example tasks: every worker of a run waits at it so
 * that all of them begin at once and really contend. Plain Atomics are fine
 * here: this is the examples' harness, not sabre.
 */

/** Int32 word of the start line: how many threads have arrived. */
export const START_ARRIVED = 0;
/** Int32 words a start line takes (zeroed by the caller for each run). */
export const START_WORDS = 1;

/**
 * Blocks until `parties` threads have arrived (or 10 s pass: a pool that
 * could not start every thread still finishes, just with less overlap).
 */
export function startLine(words: Int32Array, parties: number): void {
  const deadline = Date.now() + 10_000;
  let arrived = Atomics.add(words, START_ARRIVED, 1) + 1;
  if (arrived >= parties) {
    Atomics.notify(words, START_ARRIVED);
    return;
  }
  while (arrived < parties && Date.now() < deadline) {
    Atomics.wait(words, START_ARRIVED, arrived, 50);
    arrived = Atomics.load(words, START_ARRIVED);
  }
}
