/** Jest runs TypeScript through ts-jest; suites share one local stack started by scripts/stack.sh. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', {}] },
  testTimeout: 120000,
  globalSetup: '<rootDir>/test/global-setup.ts',
};
