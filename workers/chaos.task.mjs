// Bootstrap: Piscina loads this plain ESM file, which registers tsx and then
// loads the TypeScript task (a .ts filename given to Piscina cannot use top-level await).
import { register } from 'tsx/esm/api';
register();
export default (await import(new URL('./chaos.task.ts', import.meta.url).href)).default;
