/**
 * Guard: what every lock's `acquire` returns. It releases what it holds once,
 * by `release()` or at the end of a `using` / `await using` scope; later
 * calls do nothing. Each lock's guard is this class with its own release.
 */
export abstract class Guard implements Disposable, AsyncDisposable {
  private held = true;

  /** Releases what the guard holds (once; later calls do nothing). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.unlock();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }

  /** The lock's own release, called by the first `release()`. */
  protected abstract unlock(): void;
}
