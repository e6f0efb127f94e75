// Smoke-test program for runThreads (sabre/testing) from the built package:
// each thread increments a shared AtomicCounter `input` times, recorded.
import { AtomicCounter } from 'sabre';
import { defineProgram } from 'sabre/testing';

export default defineProgram((ctx) => {
  const counter = AtomicCounter.from(ctx.shared.counter);
  for (let i = 0; i < ctx.input; i++) ctx.record('increment', null, () => counter.increment());
});
