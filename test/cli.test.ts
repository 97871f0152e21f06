// The `campaign` command line of docs/CONTRACT.md: every command, its --json and human forms, and its refusals.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type CliResult, cli, cliProcess } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';

let t: TestEnv;
let dir: string;
let fileNumber = 0;

beforeAll(async () => {
  t = await createTestEnv();
  dir = await mkdtemp(path.join(tmpdir(), 'cli-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.cleanup();
});

/** Writes a recipients file and returns its path. */
async function recipients(content: string, ext = 'csv'): Promise<string> {
  const file = path.join(dir, `recipients-${++fileNumber}.${ext}`);
  await writeFile(file, content);
  return file;
}

async function createDelivery(file: string, ...extra: string[]): Promise<{ id: string; toSend: number }> {
  const result = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'test',
    '--recipients',
    file,
    '--json',
    ...extra,
  );
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.json();
}

async function rowCounts(): Promise<{ deliveries: number; targets: number; kpis: number }> {
  const [row] = await t.sql`
    select (select count(*) from deliveries)::int as deliveries,
           (select count(*) from delivery_targets)::int as targets,
           (select count(*) from delivery_kpis)::int as kpis`;
  return row as unknown as { deliveries: number; targets: number; kpis: number };
}

/** A refusal as docs/CONTRACT.md wants it: non-zero exit, nothing on stdout, one line on stderr. */
function expectOneLineRefusal(result: CliResult, ...mentions: (string | RegExp)[]): void {
  expect(result.code).not.toBe(0);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/^\s+at /);
  for (const mention of mentions) expect(lines[0]).toMatch(mention);
}

const CONTRACT_STATUS_KEYS = [
  'id',
  'state',
  'efs',
  'progress',
  'toSend',
  'sent',
  'delivered',
  'deliveredRate',
  'bouncesAndErrors',
  'bouncesAndErrorsRate',
  'opens',
  'openRate',
  'clicks',
  'clickRate',
  'validUntil',
  'statsComputedAt',
];

describe('--help', () => {
  it.each([
    [[], 'campaign'],
    [['operator'], 'campaign operator'],
    [['operator', 'add'], 'campaign operator add'],
    [['delivery'], 'campaign delivery'],
    [['delivery', 'create'], 'campaign delivery create'],
    [['confirm'], 'campaign confirm'],
    [['status'], 'campaign status'],
    [['logs'], 'campaign logs'],
    [['profile'], 'campaign profile'],
  ])('prints the usage of `%s` and exits 0', async (argv, usage) => {
    const result = await cli(t.env, ...argv, '--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: ${usage}`);
  });

  it.each([['operator', 'add'], ['delivery', 'create'], ['confirm'], ['status'], ['logs'], ['profile']])(
    'lists --json among the options of `%s`',
    async (...argv) => {
      expect((await cli(t.env, ...argv, '--help')).stdout).toContain('--json');
    },
  );

  it('says in `delivery create --help` what a delivery without --subject, --text or --html sends', async () => {
    const help = (await cli(t.env, 'delivery', 'create', '--help')).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('default: the --label');
    expect(help).toContain('with neither --text nor --html the message has an empty body');
  });

  it('refuses an unknown command with a non-zero exit', async () => {
    const result = await cli(t.env, 'frobnicate');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe('operator add', () => {
  it('creates an operator with its roles (--json)', async () => {
    const result = await cli(t.env, 'operator', 'add', 'alice', '--role', 'start-deliveries', '--json');
    expect(result.code).toBe(0);
    expect(result.json()).toEqual({ login: 'alice', created: true, roles: ['start-deliveries'] });
    const rows = await t.sql`
      select r.role from operators o join operator_roles r on r.operator_id = o.id where o.login = 'alice'`;
    expect(rows.map((r) => r.role)).toEqual(['start-deliveries']);
  });

  it('adds roles to an existing operator without creating it twice', async () => {
    await cli(t.env, 'operator', 'add', 'alice-2');
    const result = await cli(t.env, 'operator', 'add', 'alice-2', '--role', 'start-deliveries', '--json');
    expect(result.json()).toEqual({ login: 'alice-2', created: false, roles: ['start-deliveries'] });
    const [row] = await t.sql`select count(*)::int as n from operators where login = 'alice-2'`;
    expect(row!.n).toBe(1);
  });

  it('says what it did in human form', async () => {
    const created = await cli(t.env, 'operator', 'add', 'bob');
    expect(created.code).toBe(0);
    expect(created.stdout).toBe('created operator bob (roles: none)\n');
    const updated = await cli(t.env, 'operator', 'add', 'bob', '--role', 'start-deliveries');
    expect(updated.stdout).toBe('updated operator bob (roles: start-deliveries)\n');
  });

  it.each([
    [['operator', 'add', 'bad login'], /login "bad login" is not valid/],
    [['operator', 'add', 'carol', '--role', 'Start Deliveries'], /role "Start Deliveries" is not valid/],
    [
      ['operator', 'add', 'carol', '--role', 'admin'],
      /role "admin" is not valid; expected one of start-deliveries, read-addresses, release-quarantine, replay-dead-letters$/,
    ],
  ])('refuses %j in one line', async (argv, reason) => {
    expectOneLineRefusal(await cli(t.env, ...argv), reason);
  });

  it('writes nothing for an unknown role, and lists the known roles in --help', async () => {
    await cli(t.env, 'operator', 'add', 'carol', '--role', 'start-deliveries', '--role', 'admin');
    expect(await t.sql`select 1 from operators where login = 'carol'`).toHaveLength(0);
    const help = await cli(t.env, 'operator', 'add', '--help');
    expect(help.stdout).toMatch(/--role <role\.\.\.>\s+roles to grant, one or more of: start-deliveries/);
  });
});

describe('delivery create', () => {
  it('registers a prepared delivery and prints its id (--json)', async () => {
    const file = await recipients('email,first\nann@example.com,Ann\nbob@example.com,Bob\n');
    const result = await cli(
      t.env,
      'delivery',
      'create',
      '--label',
      'Winter sale',
      '--recipients',
      file,
      '--json',
    );
    expect(result.code).toBe(0);
    const created = result.json<{ id: string }>();
    expect(created).toMatchObject({ id: expect.stringMatching(/^\d+$/), toSend: 2 });
    const [delivery] = await t.sql`select label, state, to_send from deliveries where id = ${created.id}`;
    expect(delivery).toEqual({ label: 'Winter sale', state: 'prepared', to_send: 2 });
  });

  it('stores the options it is given', async () => {
    const file = await recipients('email,first\nann@example.com,Ann\n');
    const { id } = await createDelivery(
      file,
      '--efs',
      '--validity',
      '2d',
      '--retry-interval',
      '30m',
      '--contact-date',
      '2030-01-02T03:04:05Z',
      '--subject',
      'Hi {{first}}',
      '--text',
      'Hello {{first}}',
      '--html',
      '<p>Hello {{ first }}</p>',
    );
    const [d] = await t.sql`
      select efs, validity_seconds, retry_interval_seconds, contact_date, subject, text_body, html_body, columns
      from deliveries where id = ${id}`;
    expect(d).toEqual({
      efs: true,
      validity_seconds: 172_800,
      retry_interval_seconds: 1800,
      contact_date: new Date('2030-01-02T03:04:05Z'),
      subject: 'Hi {{first}}',
      text_body: 'Hello {{first}}',
      html_body: '<p>Hello {{ first }}</p>',
      columns: ['first'],
    });
  });

  it('says what it imported in human form', async () => {
    const file = await recipients('email\nann@example.com\nANN@example.com\nbob@example.com\n');
    const result = await cli(t.env, 'delivery', 'create', '--label', 'human', '--recipients', file);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^delivery \d+ prepared: 2 to send\n {2}\(3 rows read, 1 duplicate removed, 0 quarantined excluded\)\n$/,
    );
  });

  it('imports JSON lines', async () => {
    const file = await recipients(
      '{"email":"ann@example.com","first":"Ann"}\n{"email":"bob@example.com","first":"Bob"}\n',
      'jsonl',
    );
    const { id, toSend } = await createDelivery(file, '--subject', 'Hi {{first}}');
    expect(toSend).toBe(2);
    const targets =
      await t.sql`select seq, email, data from delivery_targets where delivery_id = ${id} order by seq`;
    expect(targets).toEqual([
      { seq: 0, email: 'ann@example.com', data: { first: 'Ann' } },
      { seq: 1, email: 'bob@example.com', data: { first: 'Bob' } },
    ]);
  });

  it('removes duplicate addresses, whatever their case, keeping the first', async () => {
    const file = await recipients(
      'email,first\nann@example.com,Ann\nbob@example.com,Bob\nANN@Example.com,Annie\ncarol@example.com,Carol\nBob@example.com,Bobby\n',
    );
    const result = await createDelivery(file);
    expect(result).toMatchObject({ toSend: 3, duplicates: 2, rows: 5 });
    const targets =
      await t.sql`select seq, email, data from delivery_targets where delivery_id = ${result.id} order by seq`;
    expect(targets).toEqual([
      { seq: 0, email: 'ann@example.com', data: { first: 'Ann' } },
      { seq: 1, email: 'bob@example.com', data: { first: 'Bob' } },
      { seq: 2, email: 'carol@example.com', data: { first: 'Carol' } },
    ]);
  });

  it('excludes quarantined addresses but keeps addresses that only have errors', async () => {
    await t.sql`
      insert into quarantine (email, error_count, reason, quarantined_at)
      values ('q1@example.com', 3, 'user unknown', now()), ('q2@example.com', 1, 'mailbox full', now()),
             ('errors-only@example.com', 1, 'mailbox full', null)`;
    const file = await recipients(
      'email\nann@example.com\nQ1@example.com\nerrors-only@example.com\nq2@example.com\nbob@example.com\n',
    );
    const result = await createDelivery(file);
    expect(result).toMatchObject({ toSend: 3, quarantined: 2 });
    const targets =
      await t.sql`select seq, email from delivery_targets where delivery_id = ${result.id} order by seq`;
    expect(targets).toEqual([
      { seq: 0, email: 'ann@example.com' },
      { seq: 1, email: 'errors-only@example.com' },
      { seq: 2, email: 'bob@example.com' },
    ]);
    const status = (await cli(t.env, 'status', result.id, '--json')).json<{ toSend: number }>();
    expect(status.toSend).toBe(3);
  });

  it('refuses a CSV with a bad row, naming its line, and writes nothing', async () => {
    const before = await rowCounts();
    const file = await recipients(
      'email,first\nann@example.com,Ann\nbob@example.com,Bob\nnot-an-address,X\ncarol@example.com,Carol\n',
    );
    const result = await cli(t.env, 'delivery', 'create', '--label', 'bad', '--recipients', file, '--json');
    expectOneLineRefusal(
      result,
      'line 4',
      '"not-an-address" is not a valid e-mail address',
      'nothing was imported',
    );
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses a short row, naming its line, and writes nothing', async () => {
    const before = await rowCounts();
    const file = await recipients('email,first\nann@example.com,Ann\nbob@example.com\n');
    const result = await cli(t.env, 'delivery', 'create', '--label', 'short', '--recipients', file);
    expectOneLineRefusal(result, 'line 3', 'the row has 1 column where the header has 2');
    expect(await rowCounts()).toEqual(before);
  });

  it('counts the other bad rows when refusing', async () => {
    const file = await recipients('email\nbad1\nok@example.com\nbad2\nbad3\n');
    const result = await cli(t.env, 'delivery', 'create', '--label', 'bad', '--recipients', file);
    expectOneLineRefusal(result, /line 2: .*\(and 2 other bad rows\); nothing was imported/);
  });

  it('refuses a {{column}} of the subject that the file does not have, once for the file (line 1), not per row', async () => {
    const before = await rowCounts();
    const file = await recipients(
      'email,last\nann@example.com,Lee\nbob@example.com,Ray\ncy@example.com,Li\n',
    );
    const result = await cli(
      t.env,
      'delivery',
      'create',
      '--label',
      'p',
      '--recipients',
      file,
      '--subject',
      'Hi {{first}}',
    );
    expectOneLineRefusal(result, /line 1: /, 'the header has no column "first", which the message uses');
    expect(result.stderr).not.toContain('other bad rows');
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    [['--validity', 'forever'], /--validity: "forever" is not a duration/],
    [['--validity', '0s'], /--validity: .*zero/],
    [['--retry-interval', '1 hour'], /--retry-interval: "1 hour" is not a duration/],
    [['--contact-date', 'tomorrow'], /--contact-date "tomorrow" is not an ISO 8601 date/],
    [['--contact-date', '2026-13-45'], /--contact-date "2026-13-45" is not an ISO 8601 date/],
    [['--label', '  '], /--label is empty/],
  ])('refuses %j in one line and writes nothing', async (options, reason) => {
    const before = await rowCounts();
    const file = await recipients('email\nann@example.com\n');
    const result = await cli(t.env, 'delivery', 'create', '--label', 'x', '--recipients', file, ...options);
    expectOneLineRefusal(result, reason);
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    ['a file that does not exist', () => path.join(dir, 'no-such-file.csv')],
    ['a directory', () => dir],
  ])('refuses as recipients %s, naming it', async (_what, file) => {
    const result = await cli(t.env, 'delivery', 'create', '--label', 'x', '--recipients', file());
    expectOneLineRefusal(result, '--recipients', `cannot read "${file()}"`);
  });

  it.each([
    [['--recipients', 'r.csv'], "required option '--label <label>' not specified"],
    [['--label', 'x'], "required option '--recipients <file>' not specified"],
  ])('refuses a missing required option (%j)', async (options, reason) => {
    const result = await cli(t.env, 'delivery', 'create', ...options);
    expect(result.code).not.toBe(0);
    expect(result.stderr.split('\n')[0]).toContain(reason);
  });
});

describe('status', () => {
  it('shows a new delivery as prepared with the shape of docs/CONTRACT.md (--json)', async () => {
    const file = await recipients('email\na@example.com\nb@example.com\nc@example.com\n');
    const { id } = await createDelivery(file, '--efs');
    const result = await cli(t.env, 'status', id, '--json');
    expect(result.code).toBe(0);
    const status = result.json<Record<string, unknown>>();
    expect(Object.keys(status)).toEqual(expect.arrayContaining(CONTRACT_STATUS_KEYS));
    expect(status).toMatchObject({
      id,
      state: 'prepared',
      efs: true,
      progress: 0,
      toSend: 3,
      sent: 0,
      delivered: 0,
      deliveredRate: 0,
      bouncesAndErrors: 0,
      bouncesAndErrorsRate: 0,
      opens: 0,
      openRate: 0,
      clicks: 0,
      clickRate: 0,
      validUntil: null,
      statsComputedAt: null,
    });
  });

  it('shows validUntil and statsComputedAt as ISO 8601 times once they are set', async () => {
    const { id } = await createDelivery(await recipients('email\na@example.com\n'));
    await t.sql`update deliveries set valid_until = '2026-11-26T10:00:00Z' where id = ${id}`;
    await t.sql`update delivery_kpis set stats_computed_at = '2026-11-25T09:30:00Z' where delivery_id = ${id}`;
    const status = (await cli(t.env, 'status', id, '--json')).json<{
      validUntil: string;
      statsComputedAt: string;
    }>();
    expect(new Date(status.validUntil).toISOString()).toBe('2026-11-26T10:00:00.000Z');
    expect(new Date(status.statsComputedAt).toISOString()).toBe('2026-11-25T09:30:00.000Z');
    expect(status.validUntil).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  });

  it('shows the KPI tile in human form', async () => {
    const file = await recipients('email\na@example.com\nb@example.com\n');
    const { id } = await createDelivery(file);
    const result = await cli(t.env, 'status', id);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`delivery ${id} "test"  prepared  (EFS off)`);
    expect(result.stdout).toMatch(/to send +2\n/);
    expect(result.stdout).toMatch(/delivered +0 +\(0\.00 %\)/);
  });
});

/** Runs `run` with process.stdout taken for a terminal (or a pipe), as the command sees it. */
async function withStdoutTty<T>(tty: boolean, run: () => Promise<T>): Promise<T> {
  const before = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
  Object.defineProperty(process.stdout, 'isTTY', { value: tty, configurable: true });
  try {
    return await run();
  } finally {
    if (before) Object.defineProperty(process.stdout, 'isTTY', before);
    else delete (process.stdout as { isTTY?: boolean }).isTTY;
  }
}

describe('logs', () => {
  let id: string;

  beforeAll(async () => {
    ({ id } = await createDelivery(await recipients('email\nann@example.com\nbob@example.com\n')));
  });

  it('prints [] for a delivery without logs (--json)', async () => {
    const result = await cli(t.env, 'logs', id, '--json');
    expect(result.code).toBe(0);
    expect(result.json()).toEqual([]);
  });

  it('prints nothing for a delivery without logs in human form, not even a header at a terminal', async () => {
    const result = await withStdoutTty(true, () => cli(t.env, 'logs', id));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('prints one entry per recipient in recipient order', async () => {
    await t.sql`
      insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, failure_type, failure_reason)
      values (${id}, 1, 'bob@example.com', 'failed', 2, ${`m-${id}-1`}, 'hard', 'user unknown'),
             (${id}, 0, 'ann@example.com', 'sent', 1, ${`m-${id}-0`}, null, null)`;
    const json = await cli(t.env, 'logs', id, '--json');
    expect(json.json()).toEqual([
      {
        email: 'ann@example.com',
        status: 'sent',
        failureType: null,
        failureReason: null,
        attempts: 1,
        messageId: `m-${id}-0`,
      },
      {
        email: 'bob@example.com',
        status: 'failed',
        failureType: 'hard',
        failureReason: 'user unknown',
        attempts: 2,
        messageId: `m-${id}-1`,
      },
    ]);
    const lines = `ann@example.com\tsent\t-\t-\t1\tm-${id}-0\nbob@example.com\tfailed\thard\tuser unknown\t2\tm-${id}-1\n`;
    // Into a pipe: one line per recipient, nothing else. At a terminal: a header row first.
    expect((await withStdoutTty(false, () => cli(t.env, 'logs', id))).stdout).toBe(lines);
    expect((await withStdoutTty(true, () => cli(t.env, 'logs', id))).stdout).toBe(
      `email\tstatus\tfailure type\tfailure reason\tattempts\tmessage id\n${lines}`,
    );
  });
});

describe('profile', () => {
  it('shows an address no delivery reached (--json)', async () => {
    const result = await cli(t.env, 'profile', 'Nobody@Example.com', '--json');
    expect(result.code).toBe(0);
    expect(result.json()).toEqual({ email: 'nobody@example.com', quarantine: null, deliveries: [] });
  });

  it('shows the deliveries that reached an address and its quarantine state', async () => {
    const { id } = await createDelivery(await recipients('email\nprofiled@example.com\n'));
    await t.sql`
      insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, failure_type, failure_reason)
      values (${id}, 0, 'profiled@example.com', 'failed', 1, ${`p-${id}`}, 'soft', 'mailbox full')`;
    await t.sql`insert into quarantine (email, error_count, reason) values ('profiled@example.com', 1, 'mailbox full')`;
    const json = await cli(t.env, 'profile', 'profiled@example.com', '--json');
    expect(json.json()).toMatchObject({
      email: 'profiled@example.com',
      quarantine: { errorCount: 1, quarantined: false, reason: 'mailbox full', quarantinedAt: null },
      deliveries: [
        {
          deliveryId: id,
          label: 'test',
          deliveryState: 'prepared',
          status: 'failed',
          failureType: 'soft',
          failureReason: 'mailbox full',
          attempts: 1,
          messageId: `p-${id}`,
        },
      ],
    });
    const human = await cli(t.env, 'profile', 'profiled@example.com');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^profiled@example\.com: 1 delivery; 1 error, not quarantined\n/);
    expect(human.stdout).toContain(`${id}\ttest\tfailed (soft: mailbox full)\tattempts 1`);
  });

  it('refuses an address that is not one', async () => {
    expectOneLineRefusal(
      await cli(t.env, 'profile', 'not-an-address', '--json'),
      '"not-an-address" is not a valid e-mail address',
    );
  });
});

describe('refusals of a delivery id', () => {
  it.each([['status'], ['logs']])('%s refuses an unknown delivery id', async (command) => {
    expectOneLineRefusal(await cli(t.env, command, '987654321', '--json'), 'delivery 987654321 not found');
  });

  it.each([
    ['status', 'abc'],
    ['logs', '12x'],
    ['status', '-1'],
    ['confirm', 'abc'],
  ])('%s refuses the non-numeric id %j', async (command, id) => {
    const argv = command === 'confirm' ? [command, id, '--as', 'alice'] : [command, id];
    const result = await cli(t.env, ...argv);
    expect(result.code).not.toBe(0);
    expect(result.stderr.split('\n')[0]).toMatch(
      new RegExp(`delivery id "${id}" is not valid|unknown option '${id}'`),
    );
  });
});

describe('unreachable services', () => {
  it('names PostgreSQL, its URL and how to start it, in one line and without a stack trace', async () => {
    const url = 'postgres://postgres:s3cret@127.0.0.1:1/x';
    const result = await cliProcess({ ...t.env, DATABASE_URL: url }, 'status', '1', '--json');
    expectOneLineRefusal(result, 'PostgreSQL', 'postgres://postgres:***@127.0.0.1:1/x', /start it with: .+/);
    expect(result.stderr).not.toContain('s3cret');
  });

  it('names Redis, its URL and how to start it when confirm cannot enqueue', async () => {
    await cli(t.env, 'operator', 'add', 'redis-less', '--role', 'start-deliveries');
    const { id } = await createDelivery(await recipients('email\nann@example.com\n'));
    const result = await cli(
      { ...t.env, REDIS_URL: 'redis://127.0.0.1:1' },
      'confirm',
      id,
      '--as',
      'redis-less',
    );
    expectOneLineRefusal(result, 'Redis', 'redis://127.0.0.1:1', /start it with: redis-server/);
  });

  it('reports a bad setting in one line per variable before touching any service', async () => {
    const result = await cli({ ...t.env, METRICS_PORT: 'abc', QUEUE_PREFIX: 'a b' }, 'status', '1');
    expect(result.code).not.toBe(0);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.some((l) => l.includes('METRICS_PORT'))).toBe(true);
    expect(lines.some((l) => l.includes('QUEUE_PREFIX'))).toBe(true);
  });
});

describe('confirm', () => {
  it('enqueues a confirm job on the delivery-confirm queue (--json)', async () => {
    await cli(t.env, 'operator', 'add', 'confirmer', '--role', 'start-deliveries');
    const { id } = await createDelivery(await recipients('email\nann@example.com\n'));
    const result = await cli(t.env, 'confirm', id, '--as', 'confirmer', '--json');
    expect(result.code).toBe(0);
    expect(result.json()).toMatchObject({ jobId: expect.any(String), deliveryId: id, operator: 'confirmer' });
  });

  it('refuses, before enqueueing, an unknown delivery or an operator without the role', async () => {
    await cli(t.env, 'operator', 'add', 'no-role');
    const { id } = await createDelivery(await recipients('email\nann@example.com\n'));
    expectOneLineRefusal(
      await cli(t.env, 'confirm', id, '--as', 'no-role', '--json'),
      'confirm refused: operator no-role lacks the role start-deliveries',
    );
    expectOneLineRefusal(
      await cli(t.env, 'confirm', id, '--as', 'nobody-at-all'),
      'operator nobody-at-all lacks the role start-deliveries (no such operator; create it with: campaign operator add nobody-at-all --role start-deliveries)',
    );
    expectOneLineRefusal(
      await cli(t.env, 'confirm', '987654321', '--as', 'no-role'),
      'operator no-role lacks the role',
    );
    await cli(t.env, 'operator', 'add', 'no-role', '--role', 'start-deliveries');
    expectOneLineRefusal(
      await cli(t.env, 'confirm', '987654321', '--as', 'no-role'),
      'confirm refused: delivery 987654321 not found',
    );
  });
});

describe('an empty audience', () => {
  it.each([
    ['a 0-byte file', ''],
    ['a header with no rows', 'email,first\n'],
  ])('%s is refused, and nothing is written', async (_, content) => {
    const before = await rowCounts();
    const file = await recipients(content);
    expectOneLineRefusal(
      await cli(t.env, 'delivery', 'create', '--label', 'empty', '--recipients', file),
      `--recipients ${file}: line 1: no recipients; give a header with an "email" column and at least one row; nothing was imported`,
    );
    expect(await rowCounts()).toEqual(before);
  });
});

describe('dead-letters --queue', () => {
  it('refuses a queue that does not exist, naming the known ones', async () => {
    const r = await cli(t.env, 'dead-letters', '--queue', 'bogus');
    expectOneLineRefusal(r, '--queue "bogus" is not a known queue; expected one of delivery-confirm, ');
    expect(r.stderr).toContain('mta-feedback');
    expect(r.stderr).toContain('feedback-http/sparkpost');
    const known = await cli(t.env, 'dead-letters', '--queue', 'mta-feedback');
    expect(known).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
  });
});

describe('as a real child process', () => {
  it('creates a delivery and shows it prepared with the right toSend', async () => {
    const file = await recipients(
      'email,first\nann@example.com,Ann\nbob@example.com,Bob\nANN@example.com,Dup\n',
    );
    const created = await cliProcess(
      t.env,
      'delivery',
      'create',
      '--label',
      'child',
      '--recipients',
      file,
      '--json',
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const { id } = created.json<{ id: string }>();
    expect(id).toMatch(/^\d+$/);
    const status = await cliProcess(t.env, 'status', id, '--json');
    expect(status.code).toBe(0);
    expect(status.json()).toMatchObject({ id, state: 'prepared', toSend: 2, sent: 0 });
  });

  it('exits non-zero on a bad row and prints the line number', async () => {
    const file = await recipients('email\nann@example.com\nbad\n');
    const result = await cliProcess(t.env, 'delivery', 'create', '--label', 'child', '--recipients', file);
    expectOneLineRefusal(result, 'line 3');
  });
});
