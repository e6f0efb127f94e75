/**
 * The words the chaos controller and its workers share: STOP (1: finish
 * the current step and exit), OPS (steps completed, by every worker), one
 * KILL word per worker slot, which the worker reads at each `die` point of
 * its step, and one TID word per slot (which thread has it).
 */
export const STOP = 0,
  OPS = 1,
  NEXT_SLOT = 2, // Piscina threads take their slots from here
  KILL = 3; // then one word per slot (and after those, TID: one word per slot, threadId + 1 of its thread)
/** KILL values: carry on; `process.exit(1)` at the next die point; throw an uncaught exception there. */
export const ALIVE = 0,
  EXIT = 1,
  THROW = 2;

/** The control words for `slots` worker slots. */
export function controlBuffer(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer((KILL + 2 * slots) * 4);
}

/** Index of slot `slot`'s TID word, in a control buffer of `slots` slots. */
export const tidWord = (slots: number, slot: number): number => KILL + slots + slot;

/** Thrown at a die point by a worker told to die by an uncaught exception; nothing catches it. */
export class ChaosKill extends Error {}
