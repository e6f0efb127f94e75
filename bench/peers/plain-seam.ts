/**
 * A seam with no hook at all: plain wrappers in their own module. Benchmark 5
 * compares it with sabre's seam to split the seam's cost into what any module
 * boundary costs and what the hook check adds.
 */
export function load(a: Int32Array, i: number): number {
  return Atomics.load(a, i);
}
export function compareExchange(a: Int32Array, i: number, expected: number, next: number): number {
  return Atomics.compareExchange(a, i, expected, next);
}
