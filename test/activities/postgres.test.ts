/**
 * The PostgreSQL activities against the stack's real PostgreSQL: the runbook role terminates and
 * cancels only the application's sessions (its database, its role), never another role's, never
 * another database's, never its own; slow queries are listed with their literals masked.
 */
import { Client as PgClient, Pool } from 'pg';
import { createPostgresActivities, missingAppRoles, sanitizeQuery } from '../../activities/postgres';
import { describeKill } from '../../workflows/pool-exhaustion';
import { runActivity } from '../../rig/activity';
import { need, uniqueId } from '../../rig/env';
import { waitUntil } from '../../rig/sandbox';

const appUrl = need('DATABASE_URL');
const adminUrl = need('PG_ADMIN_URL');
const runbookUrl = need('RUNBOOK_DATABASE_URL');
const otherRole = `abk_other_${process.pid}`;
const otherPassword = `pw${Date.now().toString(36)}`;
let admin: Pool;
let runbook: Pool;
const opened: PgClient[] = [];

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};
const otherRoleUrl = () => {
  const u = new URL(appUrl);
  u.username = otherRole;
  u.password = otherPassword;
  return u.toString();
};

async function session(url: string, applicationName: string): Promise<{ client: PgClient; pid: number }> {
  const client = new PgClient({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined); // terminated on purpose in some tests
  await client.connect();
  opened.push(client);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { client, pid: rows[0].pid };
}

const alive = async (pid: number) =>
  (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 1;

beforeAll(async () => {
  admin = new Pool({ connectionString: adminUrl, max: 2 });
  runbook = new Pool({ connectionString: runbookUrl, max: 1, application_name: 'abk-test-runbook' });
  await admin.query(`DROP ROLE IF EXISTS ${otherRole}`);
  await admin.query(`CREATE ROLE ${otherRole} LOGIN PASSWORD '${otherPassword}'`);
  await admin.query(`GRANT CONNECT ON DATABASE accubooks TO ${otherRole}`);
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.end().catch(() => undefined)));
  await admin?.query(`DROP ROLE IF EXISTS ${otherRole}`).catch(() => undefined);
  await Promise.all([admin?.end(), runbook?.end()]);
});

test('terminating idle sessions never touches another role, another database, or the runbook itself', async () => {
  const pg = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['accubooks'] });
  const app = uniqueId('abk-pgtest');
  const mine = await session(appUrl, app);
  const otherRoleSession = await session(otherRoleUrl(), app);
  const otherDbSession = await session(withDb(appUrl, 'postgres'), app);
  await new Promise((r) => setTimeout(r, 1500));

  const r = await runActivity(pg.terminateIdleSessions, {
    applicationName: app,
    idleForMs: 1000,
    reason: 'test',
  });

  expect(r.count).toBe(1);
  expect(r.terminated.map((t) => t.pid)).toEqual([mine.pid]);
  expect(r.terminated[0].idleSeconds).toBeGreaterThanOrEqual(1);
  await waitUntil('the app session to be gone', async () => !(await alive(mine.pid)));
  expect(await alive(otherRoleSession.pid)).toBe(true);
  expect(await alive(otherDbSession.pid)).toBe(true);
  await expect(otherRoleSession.client.query('SELECT 1')).resolves.toBeDefined();
  await expect(otherDbSession.client.query('SELECT 1')).resolves.toBeDefined();

  // Never itself: asked to terminate its own role's idle sessions, the runbook's only session survives.
  const self = await runbook.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const asRunbook = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['runbook'] });
  const own = await runActivity(asRunbook.terminateIdleSessions, {
    applicationName: 'abk-test-runbook',
    idleForMs: 0,
    reason: 'test',
  });
  expect(own.terminated.map((t) => t.pid)).not.toContain(self.rows[0].pid);
  expect(await alive(self.rows[0].pid)).toBe(true);
});

test('sessions idle for less than the threshold are left alone', async () => {
  const pg = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['accubooks'] });
  const app = uniqueId('abk-pgtest-fresh');
  const s = await session(appUrl, app);
  const r = await runActivity(pg.terminateIdleSessions, {
    applicationName: app,
    idleForMs: 5 * 60_000,
    reason: 'test',
  });
  expect(r.count).toBe(0);
  expect(await alive(s.pid)).toBe(true);
});

test('"0 idle sessions older than the threshold" is told apart from "no session matched the roles"', async () => {
  const app = uniqueId('abk-pgtest-scope');
  const s = await session(appUrl, app);
  await new Promise((r) => setTimeout(r, 1500));

  // The right role, sessions too fresh: the scope matched them, none was old enough.
  const right = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['accubooks'] });
  const fresh = await runActivity(right.terminateIdleSessions, {
    applicationName: app,
    idleForMs: 5 * 60_000,
    reason: 'test',
  });
  expect(fresh).toMatchObject({ count: 0, roles: ['accubooks'], matchedSessions: 1, idleOtherRoles: 0 });
  expect(describeKill(fresh, 5 * 60_000)).toBe(
    '0 idle sessions older than 5 minutes (of 1 sessions of role accubooks)',
  );

  // A role setting that is not the application's: nothing matched, and the idle app session is named.
  const wrong = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: [otherRole, 'abk_nobody'] });
  const none = await runActivity(wrong.terminateIdleSessions, {
    applicationName: app,
    idleForMs: 1000,
    reason: 'test',
  });
  expect(none).toMatchObject({ count: 0, matchedSessions: 0, idleOtherRoles: 1 });
  expect(describeKill(none, 1000)).toBe(
    `none matched the roles ${otherRole}, abk_nobody: no session of these roles in the database, nothing terminated (check ACCUBOOKS_DB_ROLES); 1 sessions of other roles idle > 1 seconds left alone`,
  );
  expect(await alive(s.pid)).toBe(true);

  // Several roles: sessions of each are in scope.
  const both = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['accubooks', otherRole] });
  const mine = await session(otherRoleUrl(), app);
  await new Promise((r) => setTimeout(r, 1500));
  const r = await runActivity(both.terminateIdleSessions, {
    applicationName: app,
    idleForMs: 1000,
    reason: 'test',
  });
  expect(r.count).toBe(2);
  expect(r.terminated.map((t) => t.pid).sort()).toEqual([s.pid, mine.pid].sort());
});

test('the start-up check names configured roles that do not exist, and gives up quietly when the database does not answer', async () => {
  expect(await missingAppRoles(runbook, ['accubooks', otherRole])).toEqual([]);
  expect(await missingAppRoles(runbook, ['accubooks', 'abk_no_such_role'])).toEqual(['abk_no_such_role']);
  const deadPool = new Pool({ connectionString: withDb(runbookUrl, 'no_such_db'), max: 1 });
  try {
    expect(await missingAppRoles(deadPool, ['accubooks'])).toBeNull();
  } finally {
    await deadPool.end();
  }
});

test('slow queries are listed with literals masked, and cancel ends only the application role’s query', async () => {
  const pg = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['accubooks'] });
  const app = uniqueId('abk-pgtest-slow');
  const mine = await session(appUrl, app);
  const other = await session(otherRoleUrl(), app);
  const mineQuery = mine.client
    .query("SELECT pg_sleep(30), 'card-4242-4242-4242' AS secret, 987654 AS amount")
    .then(
      () => 'finished',
      (err: Error) => err.message,
    );
  const otherQuery = other.client.query('SELECT pg_sleep(4)').then(
    () => 'finished',
    (err: Error) => err.message,
  );
  await new Promise((r) => setTimeout(r, 1300));

  const slow = await pg.listSlowQueries({ applicationName: app, minDurationMs: 1000 });
  expect(slow.map((q) => q.pid)).toEqual([mine.pid]);
  expect(slow[0].durationMs).toBeGreaterThanOrEqual(1000);
  expect(slow[0].query).toBe('SELECT pg_sleep(?), ? AS secret, ? AS amount');
  expect(JSON.stringify(slow)).not.toContain('4242');
  expect(JSON.stringify(slow)).not.toContain('987654');

  // A forged entry for the other role's query is refused by the scope, even with the right pid.
  const otherRow = await admin.query<{ qs: string; bs: string }>(
    'SELECT query_start::text AS qs, backend_start::text AS bs FROM pg_stat_activity WHERE pid = $1',
    [other.pid],
  );
  const forged = {
    ...slow[0],
    pid: other.pid,
    queryStart: otherRow.rows[0].qs,
    backendStart: otherRow.rows[0].bs,
  };

  const r = await runActivity(pg.cancelQueries, {
    applicationName: app,
    queries: [slow[0], forged],
    graceMs: 5000,
  });
  expect(r.signalled).toEqual([mine.pid]);
  expect(r.ended).toEqual([mine.pid]);
  expect(r.skipped).toEqual([other.pid]);
  expect(r.stillRunning).toEqual([]);
  expect(await mineQuery).toMatch(/canceling statement due to user request/);
  // Cancel ends the query, not the session.
  expect(await alive(mine.pid)).toBe(true);
  expect(await otherQuery).toBe('finished');
});

test('a query that already ended is skipped, not signalled (pid and query start identify it)', async () => {
  const pg = createPostgresActivities({ pg: runbook, apiUrls: {}, appRoles: ['accubooks'] });
  const app = uniqueId('abk-pgtest-ended');
  const s = await session(appUrl, app);
  const q = s.client.query('SELECT pg_sleep(1.5)');
  await new Promise((r) => setTimeout(r, 1100));
  const slow = await pg.listSlowQueries({ applicationName: app, minDurationMs: 1000 });
  expect(slow).toHaveLength(1);
  await q;
  await s.client.query('SELECT pg_sleep(3)').catch(() => undefined); // a new query, same pid... finished
  const r = await runActivity(pg.terminateQueries, {
    applicationName: app,
    queries: slow,
    graceMs: 1000,
  });
  expect(r.signalled).toEqual([]);
  expect(r.skipped).toEqual([s.pid]);
  expect(await alive(s.pid)).toBe(true);
});

test('SELECT 1 reports a database that answers, and one that does not', async () => {
  const ok = await createPostgresActivities({
    pg: runbook,
    apiUrls: {},
    appRoles: ['accubooks'],
  }).checkDatabase({ timeoutMs: 5000 });
  expect(ok.ok).toBe(true);
  const deadPool = new Pool({ connectionString: withDb(runbookUrl, 'no_such_db'), max: 1 });
  try {
    const bad = await createPostgresActivities({
      pg: deadPool,
      apiUrls: {},
      appRoles: ['accubooks'],
    }).checkDatabase({
      timeoutMs: 5000,
    });
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/no_such_db/);
    expect(bad.error).not.toContain(new URL(runbookUrl).password);
  } finally {
    await deadPool.end();
  }
});

test('query text is masked: strings, dollar quotes, numbers; parameters and names stay', () => {
  expect(sanitizeQuery("SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = $1 AND d2 = 1.5e3")).toBe(
    'SELECT * FROM t WHERE a = ? AND b = ? AND c = $1 AND d2 = ?',
  );
  expect(sanitizeQuery("SELECT $$secret$$, $tag$more$tag$, E'\\n'")).toBe('SELECT ?, ?, ?');
  expect(sanitizeQuery(`SELECT ${'x, '.repeat(200)}1`)).toHaveLength(201);
});
