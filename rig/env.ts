/** The local stack's addresses, as scripts/stack.sh exports them; a clear error when run outside it. */
export function need(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests with scripts/test.sh (or source .stack/env after scripts/stack.sh up)`,
    );
  }
  return value;
}

let counter = 0;
/** Unique per test run and call, so tests never share workflow IDs or container names. */
export function uniqueId(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
