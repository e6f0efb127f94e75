/** Milliseconds on the process's monotonic clock: the same in every thread (performance.now() is per thread). */
export function processMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + ns / 1e6;
}
