/**
 * The Alertmanager configurations shipped in alerts/alertmanager/: the stack's template and the
 * example users paste are valid for amtool and route, receive and inhibit alike; the running
 * Alertmanager has the stack's copy, and Prometheus evaluates the rules and sends to it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';
import { need } from '../../rig/env';

const dir = path.join(__dirname, '../../alerts/alertmanager');
const amtool = (file: string) => execFileSync('amtool', ['check-config', file], { encoding: 'utf8' });

/** The template with production values, as scripts/stack.sh fills it. */
function rendered(): string {
  return readFileSync(path.join(dir, 'alertmanager.yml.tmpl'), 'utf8')
    .replace('@@GROUP_WAIT@@', '10s')
    .replace('@@GROUP_INTERVAL@@', '1m')
    .replace('@@REPEAT_INTERVAL@@', '1h')
    .replace('@@INTAKE_URL@@', 'http://127.0.0.1:9095/alerts/alertmanager')
    .replace('@@INTAKE_TOKEN_FILE@@', '/etc/alertmanager/secrets/accubooks-intake-token');
}

test('the template and the example pass amtool check-config and say the same thing', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'abk-am-'));
  try {
    writeFileSync(path.join(tmp, 'am.yml'), rendered());
    expect(amtool(path.join(tmp, 'am.yml'))).toMatch(/SUCCESS[\s\S]*1 inhibit rules[\s\S]*2 receivers/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  expect(amtool(path.join(dir, 'alertmanager.example.yml'))).toMatch(/SUCCESS/);
  const example = load(readFileSync(path.join(dir, 'alertmanager.example.yml'), 'utf8'));
  expect(load(rendered())).toEqual(example);
});

test('the running Alertmanager has the stack’s receiver; Prometheus evaluates the rules and sends to it', async () => {
  const status = (await (await fetch(`${need('ALERTMANAGER_URL')}/api/v2/status`)).json()) as {
    config: { original: string };
  };
  const cfg = load(status.config.original) as {
    receivers: { name: string; webhook_configs?: { url: string; send_resolved: boolean }[] }[];
  };
  const hook = cfg.receivers.find((r) => r.name === 'accubooks-runbooks')!.webhook_configs![0];
  expect(hook).toMatchObject({
    url: `http://127.0.0.1:${need('STACK_INTAKE_PORT')}/alerts/alertmanager`,
    send_resolved: true,
  });
  // The token is read from a file: it is not in the configuration Alertmanager shows.
  expect(status.config.original).not.toContain(need('STACK_INTAKE_TOKEN'));

  const prom = need('PROMETHEUS_URL');
  const ams = (await (await fetch(`${prom}/api/v1/alertmanagers`)).json()) as {
    data: { activeAlertmanagers: { url: string }[] };
  };
  expect(ams.data.activeAlertmanagers.map((a) => a.url)).toEqual([
    `${need('ALERTMANAGER_URL')}/api/v2/alerts`,
  ]);
  const rules = (await (await fetch(`${prom}/api/v1/rules?type=alert`)).json()) as {
    data: { groups: { rules: { name: string; duration: number; annotations: { for?: string } }[] }[] };
  };
  const loaded = rules.data.groups.flatMap((g) => g.rules);
  expect(loaded.map((r) => r.name).sort()).toEqual(
    ['DatabasePoolExhaustion', 'HighErrorRate', 'HighLatency', 'QueueOverflow', 'SystemUnreachable'].sort(),
  );
  // STACK_ALERT_TIMING=fast (scripts/test.sh): every `for:` and its annotation shortened alike.
  if (process.env.STACK_ALERT_TIMING === 'fast') {
    for (const r of loaded) expect(`${r.duration}s`).toBe(r.annotations.for);
  }
});
