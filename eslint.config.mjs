// Lint rules that protect workflow determinism and promise handling.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Every module Node ships (vm, v8, perf_hooks, async_hooks, ... included), not a hand-kept list.
const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_'));

/** Mutating activities: reachable from workflows only through workflows/target-guard.ts. */
export const guardedActivities = [
  'restartContainer',
  'stopContainer',
  'startContainer',
  'scaleWorkersUp',
  'scaleWorkersDown',
  'setBillingEnabled',
  'setFlag',
  'clearFlag',
  'refundCharge',
  'cancelQueries',
  'terminateQueries',
  'terminateIdleSessions',
];

function guardedActivitySelectors() {
  const names = `/^(${guardedActivities.join('|')})$/`;
  const message =
    'A mutating activity goes through the target guard: use guardedStep/guardedCheck/restartTarget from ./target-guard.';
  return [
    { selector: `MemberExpression[property.name=${names}]`, message },
    { selector: `MemberExpression[computed=true][property.value=${names}]`, message },
    { selector: `ObjectPattern > Property[key.name=${names}]`, message },
  ];
}

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.stack/**',
      '.cache/**',
      '.venv/**',
      'test-artifacts/**',
      'eslint.config.mjs',
      'jest.config.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/ban-ts-comment': 'error',
    },
  },
  {
    // Workflow code is replayed in a sandbox: no Node built-ins, no activity implementations, no clients.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins
              .flatMap((m) => [m, `node:${m}`])
              .map((name) => ({
                name,
                message: 'Workflows run in a deterministic sandbox: no Node built-ins.',
              })),
            ...['pg', 'ioredis', 'stripe', 'dockerode', 'nodemailer'].map((name) => ({
              name,
              message: 'Workflows never talk to outside systems; call an activity.',
            })),
            ...['@temporalio/client', '@temporalio/activity', '@temporalio/worker'].map((name) => ({
              name,
              allowTypeImports: true,
              message:
                'Workflows use @temporalio/workflow only (a client or activity context does not exist in the sandbox).',
            })),
          ],
          patterns: [
            {
              group: ['../activities/*', '../activities', '../worker/*', '../client/*'],
              allowTypeImports: true,
              message: 'Workflows may import activity types only (import type).',
            },
          ],
        },
      ],
    },
  },
  {
    // Only the target guard's helpers (workflows/target-guard.ts) may call a mutating activity, so
    // every restart, stop, start, scale, flag, refund and kill asks the guard first. The names are
    // GUARDED_ACTIVITIES (workflows/target-lease.ts); test/unit/target-guard-lint.test.ts checks
    // both lists agree. The activities themselves refuse without a grant (activities/target-guard.ts).
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/target-guard.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...guardedActivitySelectors()],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
