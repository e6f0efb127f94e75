import { SEAM_ENV, SEAM_HOOKS } from '../../src/memory/atomics.js';
import { spawnWorker } from '../../src/threads/spawn.js';

/**
 * Runs a fixture in a worker started with the hooked atomics seam (which is
 * chosen when sabre loads, so it cannot be switched on in this thread) and
 * returns the one message it posts.
 */
export async function seamFixtureReport<T>(fixture: URL): Promise<T> {
  const worker = spawnWorker(fixture, { env: { ...process.env, [SEAM_ENV]: SEAM_HOOKS } });
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}
