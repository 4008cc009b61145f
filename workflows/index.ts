/** Every workflow the worker registers. */
export { systemDown } from './system-down';
