/**
 * A process of the payments API served by several processes
 * (examples/payments/cluster.ts): a cluster worker that serves the API on
 * the primary's port, over the Redis-backed state and the primary's bank.
 */
import { startPaymentsApi, type PaymentsApiOptions } from '../payments-api.js';

process.send!({ ready: true });
process.once('message', (o: PaymentsApiOptions) => {
  void startPaymentsApi({ ...o, threads: 1, reusePort: false }).then((api) => {
    process.send!({ listening: api.url });
    process.once('message', () => void api.stop().then(() => process.exit(0)));
  });
});
