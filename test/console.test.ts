// The operator console over HTTP: accounts and sessions (cookies, logout, logout-all, a new password), CSRF on
// every form, the login lock after CONSOLE_LOCK_AFTER wrong passwords, the per-address rate, the security headers,
// and roles checked on the server for every action whatever the page shows.
import { cli, cliWithInput } from './helpers/cli';
import { addConsoleOperator, ConsoleClient, PASSWORD } from './helpers/console';
import { createDelivery } from './helpers/fixtures';
import { startPipeline, testQueue } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

let w: TestWorld;
let base: string;

beforeAll(async () => {
  w = await openTestWorld({ env: { CONSOLE_LOGIN_RATE: '200' }, roles: ['console', 'metrics'] });
  base = `http://127.0.0.1:${w.pipeline.consolePort()}`;
  await addConsoleOperator(w.t, 'carol', ['start-deliveries', 'read-addresses']);
  await addConsoleOperator(w.t, 'bob', []);
});

afterAll(async () => {
  await w?.close();
});

const confirmJobs = async () => {
  const q = testQueue(w.t, 'delivery-confirm');
  try {
    return await q.queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
  } finally {
    await q.close();
  }
};

test('a page without a session leads to the login; a POST without one does nothing (401)', async () => {
  const c = new ConsoleClient(base);
  const page = await c.get('/console/deliveries');
  expect(page.status).toBe(302);
  expect(page.location).toBe('/console/login?next=%2Fconsole%2Fdeliveries');
  expect((await c.post('/console/deliveries/1/confirm')).status).toBe(401);
});

test('login sets an HttpOnly, SameSite=Strict session cookie; the pages carry a CSP without inline script', async () => {
  const c = new ConsoleClient(base);
  await c.get('/console/login');
  const answer = await c.post('/console/login', { login: 'carol', password: PASSWORD });
  expect(answer.status).toBe(303);
  const cookie = answer.headers.getSetCookie().find((s) => s.startsWith('campaign_session='))!;
  expect(cookie).toMatch(/HttpOnly/i);
  expect(cookie).toMatch(/SameSite=Strict/i);
  expect(cookie).toMatch(/Path=\/console/);
  expect(cookie).not.toMatch(/Secure/i); // plain HTTP on loopback; Secure over TLS
  const page = await c.get('/console/deliveries');
  expect(page.status).toBe(200);
  const csp = page.headers.get('content-security-policy')!;
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(page.headers.get('x-frame-options')).toBe('DENY');
  expect(page.text).not.toMatch(/<script>|<style>|style="| on[a-z]+="/);
  // The session row holds a hash, never the token.
  const token = c.cookies.get('campaign_session')!;
  const rows = await w.t.sql`select token_hash from operator_sessions`;
  expect(rows.map((r) => r.token_hash)).not.toContain(token);
});

test('a session cookie is refused after logout, and after logout-all from the command line', async () => {
  const a = new ConsoleClient(base);
  await a.login('carol');
  const stolen = a.cookies.get('campaign_session')!;
  expect((await a.get('/console/deliveries')).status).toBe(200);
  expect((await a.post('/console/logout')).status).toBe(303);
  const replay = new ConsoleClient(base);
  replay.cookies.set('campaign_session', stolen);
  expect((await replay.get('/console/deliveries')).status).toBe(302);

  const b = new ConsoleClient(base);
  const c = new ConsoleClient(base);
  await b.login('carol');
  await c.login('carol');
  const r = await cli(w.t.env, 'operator', 'logout-all', 'carol', '--json');
  expect(r.code).toBe(0);
  expect(r.json<{ sessionsEnded: number }>().sessionsEnded).toBeGreaterThanOrEqual(2);
  expect((await b.get('/console/deliveries')).status).toBe(302);
  expect((await c.get('/console/deliveries')).status).toBe(302);
});

test('operator passwd sets a new password (from stdin) and ends the sessions; the old one no longer logs in', async () => {
  await addConsoleOperator(w.t, 'dave', []);
  const c = new ConsoleClient(base);
  expect((await c.login('dave')).status).toBe(303);
  const short = await cliWithInput(w.t.env, 'short\n', 'operator', 'passwd', 'dave');
  expect(short.code).toBe(1);
  expect(short.stderr).toContain('too short');
  const r = await cliWithInput(w.t.env, 'a brand new passphrase\n', 'operator', 'passwd', 'dave', '--json');
  expect(r.code).toBe(0);
  expect(r.stdout).not.toContain('passphrase');
  expect((await c.get('/console/deliveries')).status).toBe(302);
  expect((await new ConsoleClient(base).login('dave')).status).toBe(401);
  expect((await new ConsoleClient(base).login('dave', 'a brand new passphrase')).status).toBe(303);
  const unknown = await cliWithInput(w.t.env, 'whatever it is\n', 'operator', 'passwd', 'nobody');
  expect(unknown.stderr).toContain('operator nobody not found');
});

test("a POST without the CSRF token, or with another session's, is refused (403) and does nothing", async () => {
  const id = await createDelivery(w.t, 2);
  const c = new ConsoleClient(base);
  await c.login('carol');
  const other = new ConsoleClient(base);
  await other.login('carol');
  await other.get('/console/deliveries');
  const before = (await confirmJobs()).length;
  expect((await c.post(`/console/deliveries/${id}/confirm`, { _csrf: '' })).status).toBe(403);
  expect((await c.post(`/console/deliveries/${id}/confirm`, { _csrf: other.csrf })).status).toBe(403);
  expect((await confirmJobs()).length).toBe(before);
  const [row] = await w.t.sql`select state from deliveries where id = ${id}`;
  expect(row!.state).toBe('prepared');
});

test('without start-deliveries the page names the role, and a hand-made POST is refused and audited', async () => {
  const id = await createDelivery(w.t, 2);
  const c = new ConsoleClient(base);
  await c.login('bob');
  const page = await c.get(`/console/deliveries/${id}`);
  expect(page.text).toContain('you do not have the rights to start deliveries (role start-deliveries)');
  expect(page.text).not.toContain(`/console/deliveries/${id}/confirm"`);
  const before = (await confirmJobs()).length;
  const answer = await c.post(`/console/deliveries/${id}/confirm`);
  expect(answer.status).toBe(403);
  expect(answer.text).toContain('you do not have the rights to start deliveries');
  expect((await confirmJobs()).length).toBe(before);
  const [audit] = await w.t.sql`
    select operator, outcome from audit_log where action = 'confirm' and target = ${id} order by id desc limit 1`;
  expect(audit).toEqual({ operator: 'bob', outcome: 'refused' });
});

test('Confirm send → OK enqueues the confirm on delivery-confirm as the logged-in operator, once audited', async () => {
  const id = await createDelivery(w.t, 3);
  const c = new ConsoleClient(base);
  await c.login('carol');
  const ask = await c.get(`/console/deliveries/${id}/confirm`);
  expect(ask.status).toBe(200);
  expect(ask.text).toContain('3</b> messages');
  const ok = await c.post(`/console/deliveries/${id}/confirm`);
  expect(ok.status).toBe(303);
  const jobs = (await confirmJobs()).filter((j) => j.data.deliveryId === id);
  expect(jobs.map((j) => j.data)).toEqual([{ deliveryId: id, operator: 'carol' }]);
  const [audit] = await w.t
    .sql`select operator, outcome, detail from audit_log where action = 'confirm' and target = ${id}`;
  expect(audit).toMatchObject({ operator: 'carol', outcome: 'accepted', detail: { jobId: jobs[0]!.id } });
});

test('20 wrong passwords lock the login, even for the right password, until a new one is set', async () => {
  await addConsoleOperator(w.t, 'erin', []);
  const c = new ConsoleClient(base);
  for (let i = 1; i < 20; i++) expect((await c.login('erin', `wrong password ${i}`)).status).toBe(401);
  const twentieth = await c.login('erin', 'wrong password 20');
  expect(twentieth.status).toBe(401);
  expect(twentieth.text).toContain('now locked until');
  const right = await c.login('erin');
  expect(right.status).toBe(429);
  expect(right.text).toContain('This login is locked until');
  expect(c.cookies.has('campaign_session')).toBe(false);
  // A new password lifts the lock.
  await cliWithInput(w.t.env, `${PASSWORD}\n`, 'operator', 'passwd', 'erin');
  expect((await c.login('erin')).status).toBe(303);
}, 60_000);

test('one address gets CONSOLE_LOGIN_RATE login attempts per 10 minutes, then 429s, whatever the login', async () => {
  const other = await startPipeline(w.t, {
    roles: ['console'],
    env: { CONSOLE_LOGIN_RATE: '3', QUEUE_PREFIX: `${w.t.prefix}-rate` },
  });
  try {
    const c = new ConsoleClient(`http://127.0.0.1:${other.consolePort()}`);
    const statuses: number[] = [];
    for (const login of ['x1', 'x2', 'x3', 'carol'])
      statuses.push((await c.login(login, 'guess guess guess')).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
  } finally {
    await other.stop();
  }
});

test('AUTH_PROXY_HEADER logs in the operator a trusted proxy names, and only from CONSOLE_TRUST_PROXY', async () => {
  const behind = (trust: string) =>
    startPipeline(w.t, {
      roles: ['console'],
      env: { AUTH_PROXY_HEADER: 'X-Forwarded-User', CONSOLE_TRUST_PROXY: trust },
    });
  const trusted = await behind('127.0.0.1');
  try {
    const url = `http://127.0.0.1:${trusted.consolePort()}`;
    const who = await fetch(`${url}/console/whoami.json`, { headers: { 'x-forwarded-user': 'carol' } });
    expect(await who.json()).toEqual({ login: 'carol', roles: ['read-addresses', 'start-deliveries'] });
    const unknown = await fetch(`${url}/console/whoami.json`, {
      headers: { 'x-forwarded-user': 'mallory' },
      redirect: 'manual',
    });
    expect(unknown.status).toBe(302);
    // Behind a TLS-terminating proxy the session cookie is Secure.
    const c = new ConsoleClient(url);
    await c.get('/console/login');
    const login = await c.request('/console/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
      body: new URLSearchParams({ _csrf: c.csrf, login: 'carol', password: PASSWORD }).toString(),
    });
    expect(login.headers.getSetCookie().find((s) => s.startsWith('campaign_session='))).toMatch(/; Secure/i);
  } finally {
    await trusted.stop();
  }
  const untrusted = await behind('10.9.8.7');
  try {
    const who = await fetch(`http://127.0.0.1:${untrusted.consolePort()}/console/whoami.json`, {
      headers: { 'x-forwarded-user': 'carol' },
      redirect: 'manual',
    });
    expect(who.status).toBe(302);
  } finally {
    await untrusted.stop();
  }
});

test('refusals of a logged-in page are pages too: a missing CSRF token, a form over 64 KB; an undecodable path is the 404 page, with the headers', async () => {
  const c = new ConsoleClient(base);
  await c.login('carol');
  const forged = await c.post('/console/quarantine/release', { _csrf: '', email: 'a@example.test' });
  expect(forged.status).toBe(403);
  expect(forged.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(forged.text).toContain('missing or wrong CSRF token');
  const big = await c.post('/console/quarantine/release', { email: 'x'.repeat(70 * 1024) });
  expect(big.status).toBe(413);
  expect(big.text).toContain('the body is over 65536 bytes');
  expect(big.headers.get('connection')).toBe('close');
  // Fastify answers an undecodable path before its hooks: the console still sends its page and its headers.
  const bad = await c.get('/console/deliveries/%zz');
  expect(bad.status).toBe(404);
  expect(bad.text).toContain('No such page.');
  expect(bad.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(bad.headers.get('x-frame-options')).toBe('DENY');
});
