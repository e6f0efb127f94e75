/**
 * One thread reopens each handle it is sent, writes through it, and returns
 * the handle: a postMessage trip to a worker and back.
 */
import type { Handle } from '../../src/memory/region.js';
import { defineProgram } from '../../src/testing/index.js';
import { primitive, type PrimitiveName } from './primitives.js';

export interface ReopenItem {
  readonly name: PrimitiveName;
  readonly handle: Handle;
  readonly v: number;
}

export default defineProgram<ReopenItem[], null, Handle[]>(({ shared }) =>
  shared.map(({ name, handle, v }) => {
    const kind = primitive(name);
    const p = kind.from(handle);
    kind.write(p, v);
    return kind.handle(p);
  }),
);
