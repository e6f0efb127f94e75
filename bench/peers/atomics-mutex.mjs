// V8's experimental Atomics.Mutex (shared structs proposal), measured in a
// child process because `--harmony-struct` is a process-wide V8 flag (a
// worker's execArgv cannot carry it). Prints one JSON line:
//   { "available": true, "mutexNs": <ns per Atomics.Mutex.lock(m, () => {})>,
//     "rawNs": <ns per raw compareExchange + store pair, in this process> }
// The raw pair is measured here too, so the two processes can be compared
// against the same yardstick. Usage: node --harmony-struct atomics-mutex.mjs <ms>
const ms = Number(process.argv[2] ?? 200);

function timeLoop(run, budgetMs, batch) {
  const budget = budgetMs * 1e6;
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed;
  do {
    run(batch);
    ops += batch;
    elapsed = Number(process.hrtime.bigint() - start);
  } while (elapsed < budget);
  return elapsed / ops;
}

if (typeof Atomics.Mutex !== 'function' || typeof Atomics.Mutex.lock !== 'function') {
  console.log(JSON.stringify({ available: false }));
} else {
  const m = new Atomics.Mutex();
  const empty = () => {};
  const mutexLoop = (n) => {
    for (let i = 0; i < n; i++) Atomics.Mutex.lock(m, empty);
  };
  const word = new Int32Array(new SharedArrayBuffer(4));
  const rawLoop = (n) => {
    for (let i = 0; i < n; i++) {
      if (Atomics.compareExchange(word, 0, 0, 1) !== 0) throw new Error('raw lock taken');
      Atomics.store(word, 0, 0);
    }
  };
  // Warm both up, then alternate and keep the medians.
  timeLoop(mutexLoop, 30, 10_000);
  timeLoop(rawLoop, 30, 10_000);
  const a = [],
    b = [];
  for (let r = 0; r < 3; r++) {
    a.push(timeLoop(mutexLoop, ms / 6, 10_000));
    b.push(timeLoop(rawLoop, ms / 6, 10_000));
  }
  const med = (xs) => xs.sort((x, y) => x - y)[xs.length >> 1];
  console.log(JSON.stringify({ available: true, mutexNs: med(a), rawNs: med(b) }));
}
