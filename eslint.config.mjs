// Lint rules that protect workflow determinism and promise handling.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Every module Node ships (vm, v8, perf_hooks, async_hooks, ... included), not a hand-kept list.
const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_'));

/** Mutating activities: reachable from workflows only through workflows/guarded-actions.ts. */
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
    'A mutating activity goes through the target guard: use guardedStep/guardedCheck/restartTarget from ./guarded-actions.';
  return [
    { selector: `MemberExpression[property.name=${names}]`, message },
    { selector: `MemberExpression[computed=true][property.value=${names}]`, message },
    { selector: `ObjectPattern > Property[key.name=${names}]`, message },
  ];
}

/** What workflow code (and the definitions it imports) may not load: the sandbox has none of it. */
const sandboxPaths = [
  ...nodeBuiltins
    .flatMap((m) => [m, `node:${m}`])
    .map((name) => ({ name, message: 'Workflows run in a deterministic sandbox: no Node built-ins.' })),
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
];

/** The image's entry point and the tools and test code: nothing the programs themselves run may import them. */
const TOOLS = ['image', 'rig', 'test', 'bench', 'scripts'];
/** Everything above activities/ and workflows/. */
const ABOVE_ACTIVITIES = ['config', 'worker', 'client', 'sandbox', ...TOOLS];

/** FILES may not import from the top-level folders UP (types included), nor PATHS. */
function layer(files, up, paths = [], patterns = []) {
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths,
          patterns: [
            {
              regex: `^(\\.\\./)+(${up.join('|')})(/|$)`,
              message: `${files[0].split('/')[0]}/ sits below ${up.join(', ')}: import from lower layers only.`,
            },
            ...patterns,
          ],
        },
      ],
    },
  };
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
      '.image/**',
      'eslint.config.mjs',
      'jest.config.js',
      // Jest loads its test sequencer as plain JavaScript, like its config.
      'test/setup/shards.js',
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
  // The layers, bottom to top (docs/architecture.md): definitions/ -> common/ -> activities/ and
  // workflows/ -> config/ -> worker/ and client/ -> rig/ -> test/, bench/, scripts/. Each imports only
  // from the layers below it (dpdm, `npm run lint:cycles`, also fails on any import cycle).
  layer(['definitions/**/*.ts'], ['workflows', 'activities', 'common', ...ABOVE_ACTIVITIES], sandboxPaths),
  layer(['common/**/*.ts'], ['workflows', 'activities', ...ABOVE_ACTIVITIES]),
  layer(['activities/**/*.ts'], ['workflows', ...ABOVE_ACTIVITIES]),
  // Workflow code is replayed in a sandbox: no Node built-ins, no activity implementations, no clients.
  layer(['workflows/**/*.ts'], ['common', ...ABOVE_ACTIVITIES], sandboxPaths, [
    {
      regex: '^(\\.\\./)+activities(/|$)',
      allowTypeImports: true,
      message: 'Workflows may import activity types only (import type).',
    },
  ]),
  layer(['config/**/*.ts'], ['workflows', 'worker', 'client', ...TOOLS]),
  layer(['worker/**/*.ts', 'client/**/*.ts'], TOOLS),
  // image/ (the container's entry point and health check) starts the worker and the clients.
  layer(['image/**/*.ts'], ['rig', 'test', 'bench', 'scripts']),
  layer(['rig/**/*.ts'], ['test', 'bench', 'scripts']),
  layer(['bench/**/*.ts', 'scripts/**/*.ts'], ['test']),
  {
    // Rooms a newcomer can read (issue 21): no file over 400 lines, no function over 80, outside tests.
    files: [
      '{definitions,common,activities,workflows,config,worker,client,image,sandbox,rig,bench,scripts,alerts}/**/*.ts',
    ],
    rules: {
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    // Only the target guard's helpers (workflows/guarded-actions.ts) may call a mutating activity, so
    // every restart, stop, start, scale, flag, refund and kill asks the guard first. The names are
    // GUARDED_ACTIVITIES (definitions/target-guard.ts); test/unit/target-guard-lint.test.ts checks
    // both lists agree. The activities themselves refuse without a grant (activities/target-guard.ts).
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/guarded-actions.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...guardedActivitySelectors()],
    },
  },
  {
    files: ['test/**/*.ts', 'rig/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
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
