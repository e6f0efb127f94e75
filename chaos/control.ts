/**
 * The words the chaos controller and its workers share: STOP (1: finish
 * the current step and exit), OPS (steps completed, by every worker), and
 * one KILL word per worker slot, which the worker reads at each `die` point
 * of its step.
 */
export const STOP = 0,
  OPS = 1,
  KILL = 2; // then one word per slot
/** KILL values: carry on; `process.exit(1)` at the next die point; throw an uncaught exception there. */
export const ALIVE = 0,
  EXIT = 1,
  THROW = 2;

/** The control words for `slots` worker slots. */
export function controlBuffer(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer((KILL + slots) * 4);
}
