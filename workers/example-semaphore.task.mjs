import { register } from 'tsx/esm/api';
register();
export default (await import(new URL('./example-semaphore.task.ts', import.meta.url).href)).default;
