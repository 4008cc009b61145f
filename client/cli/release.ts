/**
 * `runbooks release status|promote|ramp|rollback`: Worker Versioning releases of the runbook worker
 * (client/release/). promote and ramp run the replay gate first and refuse (exit 3) when the build
 * does not replay the recorded and the live histories.
 */
import type { Command } from 'commander';
import { loadTemporalConfig } from '../../config/temporal';
import { DEPLOYMENT_NAME, defaultBuildId } from '../../config/versioning';
import { dataConverterFor } from '../../common/codec';
import { openOnVersionQuery } from '../deployment';
import {
  promote,
  ramp,
  releaseStatus,
  rollback,
  ReleaseRefused,
  type ReleaseTarget,
} from '../release/release';
import { CliError, formatTable, withClient, type Cli } from './common';

interface TargetOpts {
  deployment: string;
  build?: string;
  workflowBundle?: string;
  fixtures?: string[];
  histories?: string[];
}

const identity = () => `runbooks release (${process.env.USER ?? 'unknown user'})`;

function withTargetOptions(cmd: Command): Command {
  return cmd
    .option('--build <buildId>', "the build to release (default: this checkout's, package version + commit)")
    .option('--workflow-bundle <file>', "that build's workflow bundle (default: this checkout's workflows)")
    .option('--fixtures <dir...>', 'recorded histories to replay (default: test/fixtures/histories)')
    .option('--histories <dir...>', 'histories exported earlier (runbooks export-histories), replayed too');
}

function target(o: TargetOpts, taskQueue: string): ReleaseTarget {
  return {
    deployment: o.deployment,
    buildId: o.build ?? defaultBuildId(),
    workflowBundle: o.workflowBundle,
    fixtureDirs: o.fixtures,
    historyDirs: o.histories,
    taskQueue,
    dataConverter: dataConverterFor(loadTemporalConfig()),
    identity: identity(),
  };
}

/** A refusal is exit 3 with the gate's reasons; everything else keeps its error. */
const refused = (err: unknown): never => {
  if (err instanceof ReleaseRefused) {
    throw new CliError(err.message, 3, err.gate ? { gate: err.gate } : undefined);
  }
  throw err;
};

export function releaseCommands({ program, print }: Cli): void {
  const release = program
    .command('release')
    .description('release a runbook change: Worker Deployment versions (status, promote, ramp, rollback)')
    .option(
      '--deployment <name>',
      'the Worker Deployment',
      process.env.WORKER_DEPLOYMENT_NAME ?? DEPLOYMENT_NAME,
    );
  const opts = (cmd: Command) => ({ ...release.opts<{ deployment: string }>(), ...cmd.opts<TargetOpts>() });

  release
    .command('status')
    .description('the current, ramping and draining builds, and how many open workflows each still holds')
    .action(async () => {
      const { deployment } = release.opts<{ deployment: string }>();
      await withClient(async (client) => {
        const { deployment: d, rows } = await releaseStatus(client, deployment);
        if (!d) {
          print(`No Worker Deployment "${deployment}" yet: no versioned worker has polled.`, {
            deployment,
            rows,
          });
          return;
        }
        const table = formatTable(
          ['BUILD', 'STATUS', 'OPEN', 'DRAINAGE'],
          rows.map((r) => [r.buildId, r.status, String(r.open), r.drainage ?? '-']),
        );
        const ramping = d.ramping ? `${d.ramping.buildId} (${d.ramping.percentage}%)` : 'none';
        print(
          [
            `Deployment ${deployment}: current ${d.current ?? 'none (unversioned workers)'}, ramping ${ramping}`,
            ...table,
            `Open workflows of a build: ${openOnVersionQuery(deployment, '<build>')}`,
          ].join('\n'),
          { deployment, current: d.current ?? null, ramping: d.ramping ?? null, versions: rows },
        );
      });
    });

  withTargetOptions(
    release
      .command('promote')
      .description('make a build current for every new incident (after the replay gate)'),
  ).action(async (_o: unknown, cmd: Command) => {
    await withClient(async (client, taskQueue) => {
      const text = await promote(client, target(opts(cmd), taskQueue)).catch(refused);
      print(text, { promoted: true, text });
    });
  });

  withTargetOptions(
    release
      .command('ramp')
      .description('send a share of new incidents to a build (after the replay gate); 0 ends the ramp')
      .argument('<percent>', 'share of new incidents, 0-100'),
  ).action(async (percent: string, _o: unknown, cmd: Command) => {
    const pct = Number(percent);
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) {
      throw new CliError(`ramp: "${percent}" is not a percentage between 0 and 100`, 2);
    }
    await withClient(async (client, taskQueue) => {
      const text = await ramp(client, target(opts(cmd), taskQueue), pct).catch(refused);
      print(text, { ramped: pct, text });
    });
  });

  release
    .command('rollback')
    .description('end a ramp, or make the previous build current again (new incidents run it)')
    .option('--to <buildId>', 'the build to go back to (default: the one current before)')
    .action(async (o: { to?: string }) => {
      const { deployment } = release.opts<{ deployment: string }>();
      await withClient(async (client) => {
        const text = await rollback(client, deployment, identity(), o.to).catch(refused);
        print(text, { rolledBack: true, text });
      });
    });
}
