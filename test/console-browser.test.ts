// The operator console in a real headless Chromium (Debian's package, driven by playwright-core): log in,
// Confirm send → OK of 1,000 recipients through a real loopback SMTP MTA while the tile climbs to 100 %, an
// operator without the role sees the message and cannot confirm by posting a form by hand, a forged cross-site
// POST is refused, a session ends at logout and at logout-all, 20 wrong passwords lock the login, and a
// recurring delivery's executions are confirmed one by one. Screenshots go to test/artifacts/ (and to docs/
// with UPDATE_SCREENSHOTS=1).
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { cli } from './helpers/cli';
import { addConsoleOperator, PASSWORD } from './helpers/console';
import { createDelivery, recipientsCsv } from './helpers/fixtures';
import { testQueue, waitFor } from './helpers/pipeline';
import { openTestWorld, type TestWorld } from './helpers/world';

const ARTIFACTS = path.join(__dirname, 'artifacts');
const DOCS = path.join(__dirname, '..', 'docs');
const RECIPIENTS = 1000;

let w: TestWorld;
let browser: Browser;
let base: string;

beforeAll(async () => {
  // 250 messages a second in batches of 100: the send lasts a few seconds, long enough to watch the tile move.
  w = await openTestWorld({
    env: { DISPATCH_RATE_LIMIT: '250', DISPATCH_BATCH_SIZE: '100', RECURRENCE_TICK: '1s' },
  });
  base = `http://127.0.0.1:${w.pipeline.consolePort()}`;
  await addConsoleOperator(w.t, 'alice', [
    'start-deliveries',
    'read-addresses',
    'release-quarantine',
    'replay-dead-letters',
  ]);
  await addConsoleOperator(w.t, 'bob', []);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await w?.close();
});

/** A screenshot of the page, kept in test/artifacts and, when asked, in docs/ for the README. */
async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  if (process.env.UPDATE_SCREENSHOTS === '1')
    await page.screenshot({ path: path.join(DOCS, name), fullPage: true });
}

async function loggedIn(
  login: string,
  password = PASSWORD,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => {
    throw new Error(`the page ran a script from the data: ${dialog.message()}`);
  });
  await page.goto(`${base}/console`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(/\/console\/deliveries$/), page.click('button[type=submit]')]);
  return { context, page };
}

const text = async (page: Page, key: string) =>
  (await page.locator(`[data-k="${key}"]`).first().textContent()) ?? '';
const stateOf = async (id: string) =>
  (await w.t.sql`select state from deliveries where id = ${id}`)[0]!.state;
const confirmJobsOf = async (id: string) => {
  const q = testQueue(w.t, 'delivery-confirm');
  try {
    const jobs = await q.queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
    return jobs.filter((j) => j.data.deliveryId === id);
  } finally {
    await q.close();
  }
};

test('log in, Confirm send → OK of 1,000 recipients, and the tile climbs to 100 % as the MTA receives them', async () => {
  const id = await createDelivery(w.t, RECIPIENTS, '--efs', '--label', 'Winter sale <b>50 %</b>');
  const { context, page } = await loggedIn('alice');
  const row = page.locator('#deliveries tr', { has: page.locator(`a[href="/console/deliveries/${id}"]`) });
  expect(await row.locator('td').nth(2).textContent()).toBe('prepared');
  await shot(page, 'console-deliveries.png');
  await page.click(`a[href="/console/deliveries/${id}"]`);
  expect(await page.locator('h1').textContent()).toContain('Winter sale <b>50 %</b>');
  expect(await text(page, 'state')).toBe('prepared');

  await page.getByRole('button', { name: 'Confirm send' }).click();
  expect(await page.locator('main').textContent()).toContain(`${RECIPIENTS} messages`);
  await page.getByRole('button', { name: 'OK' }).click();
  await page.waitForURL(new RegExp(`/console/deliveries/${id}\\?confirmed=`));
  expect(await page.locator('[role=status]').textContent()).toContain(`Confirm of delivery ${id} queued`);

  // The page is not reloaded: its script refreshes the tile until every message is at the MTA.
  const seen = new Set<number>();
  await waitFor(
    async () => {
      seen.add(Number(await text(page, 'sent')));
      return (await text(page, 'progress')) === '100 %';
    },
    90_000,
    'the tile to reach 100 %',
  );
  expect([...seen].some((n) => n > 0 && n < RECIPIENTS)).toBe(true);
  expect(await text(page, 'sent')).toBe(String(RECIPIENTS));
  expect(await page.locator('#progress-bar').evaluate((b) => (b as unknown as { value: number }).value)).toBe(
    1,
  );
  await waitFor(async () => (await text(page, 'state')) === 'sent', 20_000, 'the state sent');
  expect(w.mta.received.filter((m) => m.raw.includes(`.${id}.`)).length).toBe(RECIPIENTS);
  expect((await confirmJobsOf(id)).map((j) => j.data)).toEqual([{ deliveryId: id, operator: 'alice' }]);
  await shot(page, 'console-dashboard.png');

  // Compute statistics enqueues compute-stats; the dashboard then says when the figures were computed.
  await page.getByRole('button', { name: 'Compute statistics' }).click();
  expect(await page.locator('[role=status]').textContent()).toContain('are being computed');
  await waitFor(async () => (await text(page, 'statsComputedAt')) !== 'never', 20_000, 'statistics computed');

  // The sending logs, with addresses for alice (read-addresses), filtered by status.
  await page.click('text=Sending logs');
  expect(await page.locator('#logs tbody tr').count()).toBe(50);
  expect(await page.locator('#logs tbody tr').first().locator('td').nth(1).textContent()).toBe(
    'r0@example.test',
  );
  await page.selectOption('select[name=status]', 'failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  expect(await page.locator('main').textContent()).toContain('No log line matches.');
  await context.close();
});

test('without start-deliveries the button is the message naming the role, and a form posted by hand is refused', async () => {
  const id = await createDelivery(w.t, 3, '--label', 'Not for bob');
  const { context, page } = await loggedIn('bob');
  await page.goto(`${base}/console/deliveries/${id}`);
  expect(await page.getByRole('button', { name: 'Confirm send' }).count()).toBe(0);
  expect(await page.locator('.no-rights').textContent()).toBe(
    'you do not have the rights to start deliveries (role start-deliveries)',
  );
  await shot(page, 'console-no-rights.png');
  // bob builds the OK form himself, with a valid token of his own session, and posts it.
  await Promise.all([
    page.waitForNavigation(),
    page.evaluate(`(() => {
      const token = document.querySelector('#compute-form input[name=_csrf]').value;
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/console/deliveries/${id}/confirm';
      const input = document.createElement('input');
      input.name = '_csrf';
      input.value = token;
      form.append(input);
      document.body.append(form);
      form.submit();
    })()`),
  ]);
  expect(await page.locator('main').textContent()).toContain(
    'you do not have the rights to start deliveries',
  );
  expect(await confirmJobsOf(id)).toEqual([]);
  expect(await stateOf(id)).toBe('prepared');
  // His log page hides the addresses.
  await page.goto(`${base}/console/deliveries/${id}/logs`);
  expect(await page.content()).not.toContain('@example.test');
  await context.close();
});

test('a forged cross-site POST (another origin auto-submitting the OK form) is refused and sends nothing', async () => {
  const id = await createDelivery(w.t, 2, '--label', 'Target of a forgery');
  const evil: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<form id="f" method="post" action="${base}/console/deliveries/${id}/confirm"><input name="_csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`,
    );
  });
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  try {
    const { context, page } = await loggedIn('alice');
    const answer = page.waitForResponse((r) => r.url().endsWith(`/console/deliveries/${id}/confirm`));
    await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
    expect((await answer).status()).toBe(403);
    await page.waitForURL(`${base}/console/deliveries/${id}/confirm`);
    expect(await page.content()).toContain('CSRF');
    expect(await confirmJobsOf(id)).toEqual([]);
    expect(await stateOf(id)).toBe('prepared');
    await context.close();
  } finally {
    await new Promise((resolve) => evil.close(resolve));
  }
});

test('a session cookie is refused after logout, and after logout-all', async () => {
  const { context, page } = await loggedIn('alice');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'campaign_session')!;
  expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/console\/login$/);
  const thief = await browser.newContext();
  await thief.addCookies(cookies);
  const stolen = await thief.newPage();
  await stolen.goto(`${base}/console/deliveries`);
  expect(stolen.url()).toContain('/console/login?next=');
  await thief.close();

  const again = await loggedIn('alice');
  expect((await cli(w.t.env, 'operator', 'logout-all', 'alice')).code).toBe(0);
  await again.page.reload();
  expect(again.page.url()).toContain('/console/login?next=');
  await shot(again.page, 'console-login.png');
  await again.context.close();
  await context.close();
});

test('20 wrong passwords lock the login: the right one is refused until the lock ends', async () => {
  await addConsoleOperator(w.t, 'frank', ['start-deliveries']);
  const context = await browser.newContext();
  const page = await context.newPage();
  for (let i = 1; i <= 20; i++) {
    await page.goto(`${base}/console/login`);
    await page.fill('#login', 'frank');
    await page.fill('#password', `not the password ${i}`);
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    expect(await page.locator('[role=alert]').textContent()).toContain('Wrong login or password.');
  }
  expect(await page.locator('[role=alert]').textContent()).toContain('now locked until');
  await page.goto(`${base}/console/login`);
  await page.fill('#login', 'frank');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
  expect(await page.locator('[role=alert]').textContent()).toContain('This login is locked until');
  expect((await context.cookies()).some((c) => c.name === 'campaign_session')).toBe(false);
  await context.close();
}, 90_000);

test('a recurring delivery shows its schedule, pause state and executions, each confirmed by its own button', async () => {
  const r = await cli(
    w.t.env,
    'delivery',
    'create',
    '--label',
    'Every 20 seconds',
    '--recipients',
    recipientsCsv(2),
    '--recurrence',
    '*/20 * * * * *',
    '--allow-frequent',
    '--confirm-each',
    '--validity',
    '1h',
    '--json',
  );
  expect(r.code).toBe(0);
  const id = r.json<{ id: string }>().id;
  const { context, page } = await loggedIn('alice');
  // An execution waits in `prepared` for its confirm until the next occurrence, 20 s later: on a loaded
  // machine the clicks may come after it (the execution is then skipped, never sent late), so the next one is
  // confirmed instead, as an operator would.
  const waiting = () =>
    waitFor(
      async () => {
        const status = await cli(w.t.env, 'status', id, '--json');
        const list = status.json<{ executions: { id: string | null; state: string }[] }>().executions;
        return list.find((x) => x.state === 'prepared')?.id ?? null;
      },
      45_000,
      'an execution waiting for its confirm',
    );
  let confirmed: string | null = null;
  for (let attempt = 0; attempt < 3 && !confirmed; attempt++) {
    const execution = await waiting();
    await page.goto(`${base}/console/deliveries/${id}`);
    expect(await page.locator('[data-k="paused"]').textContent()).toBe('running');
    expect(await page.locator('#schedule').textContent()).toContain('*/20 * * * * *');
    if (attempt === 0) await shot(page, 'console-recurring.png');
    const row = page.locator('#executions tr', {
      has: page.locator(`a[href="/console/deliveries/${execution}"]`),
    });
    await row.getByRole('button', { name: 'Confirm send' }).click();
    if ((await page.getByRole('button', { name: 'OK' }).count()) === 0) continue;
    await page.getByRole('button', { name: 'OK' }).click();
    if (page.url().includes('?confirmed=')) confirmed = execution;
  }
  expect(confirmed).not.toBeNull();
  await waitFor(
    async () => ['sending', 'sent'].includes(await stateOf(confirmed!)),
    20_000,
    'the execution sent',
  );
  expect((await confirmJobsOf(confirmed!)).map((j) => j.data.operator)).toEqual(['alice']);
  expect((await cli(w.t.env, 'delivery', 'pause', id)).code).toBe(0);
  await page.goto(`${base}/console/deliveries/${id}`);
  expect(await page.locator('[data-k="paused"]').textContent()).toBe('paused');
  await context.close();
}, 180_000);

test('a stopped delivery shows why; the audit lists who confirmed what', async () => {
  const id = await createDelivery(w.t, 2, '--label', 'Stopped one');
  expect((await cli(w.t.env, 'delivery', 'stop', id)).code).toBe(0);
  const { context, page } = await loggedIn('alice');
  await page.goto(`${base}/console/deliveries/${id}`);
  expect(await page.locator('#state-reason').textContent()).toMatch(/This delivery is stopped: .+/);
  await page.goto(`${base}/console/audit`);
  const rows = await page
    .locator('#audit tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.children].slice(1, 5).map((td) => td.textContent)));
  expect(rows).toContainEqual(['alice', 'confirm', expect.any(String), 'accepted']);
  expect(rows).toContainEqual(['bob', 'confirm', expect.any(String), 'refused']);
  await shot(page, 'console-audit.png');
  await context.close();
});
