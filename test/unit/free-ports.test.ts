/**
 * scripts/lib.sh `abk_free_ports`: stacks that start at the same time (scripts/test.sh runs the
 * cluster, chaos and image stages at once, each on a stack of its own) must never be handed the same
 * port, even before any of them binds it. Each picker claims its ports in a shared file under a lock.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const lib = path.join(__dirname, '..', '..', 'scripts', 'lib.sh');
let dir: string;
let claims: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'free-ports-'));
  claims = path.join(dir, 'claims');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function pick(n: number): Promise<number[]> {
  const { stdout } = await run('bash', ['-c', `source "${lib}" && abk_free_ports ${n}`], {
    env: { ...process.env, ABK_PORT_CLAIMS: claims },
  });
  return stdout.trim().split(' ').map(Number);
}

test('twelve pickers at once, 23 ports each (a cluster stack): no port handed out twice', async () => {
  const picks = await Promise.all(Array.from({ length: 12 }, () => pick(23)));
  const all = picks.flat();
  expect(all).toHaveLength(12 * 23);
  expect(new Set(all).size).toBe(all.length);
  for (const p of all) expect(p).toBeGreaterThanOrEqual(10000);
  // Every port handed out is on record as claimed.
  const claimed = readFileSync(claims, 'utf8').trim().split('\n');
  expect(new Set(claimed.map((l) => Number(l.split(' ')[0])))).toEqual(new Set(all));
});

test('a port claimed within the hour is not handed out again; an older claim has lapsed', async () => {
  const now = Math.floor(Date.now() / 1000);
  // Claim all but the ports 10000-10004 of the picker's whole range: fresh claims, one lapsed claim.
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]);
  const lines: string[] = [];
  for (let p = 10005; p < low; p++) lines.push(`${p} ${now - 60}`);
  lines.push(`10004 ${now - 3 * 3600}`);
  writeFileSync(claims, lines.join('\n') + '\n');
  const ports = await pick(5);
  expect(ports.sort()).toEqual([10000, 10001, 10002, 10003, 10004]);
  await expect(pick(1)).rejects.toThrow(/could not find 1 free ports/);
});
