/** Jest runs TypeScript through ts-jest; suites share one local stack started by scripts/stack.sh. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Run alone, each by its own stage: the chaos suites (worker crashes, dependency outages:
  // scripts/test-chaos.sh), the two-node cluster suites (scripts/test-cluster.sh) and the image
  // (scripts/test-image.sh).
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/test/chaos/',
    '<rootDir>/test/cluster/',
    '<rootDir>/test/image/',
  ],
  transform: { '^.+\\.ts$': ['ts-jest', {}] },
  testTimeout: 120000,
  globalSetup: '<rootDir>/test/global-setup.ts',
  // scripts/test.sh runs the suites in two halves at once, each on a stack of its own.
  testSequencer: '<rootDir>/test/setup/shards.js',
  setupFiles: ['<rootDir>/test/setup/closed-channel.ts'],
};
