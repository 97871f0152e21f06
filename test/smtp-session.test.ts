// The SMTP pool's own sessions against a real smtp-server: pipelined and not, refusals that concern one
// message, the bytes as sent, DSN parameters, STARTTLS with AUTH, an MTA that is down or closes the session.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { smtpConnectionPool, smtpOptions } from '../workers/mta/smtp-pool';
import type { MtaTransport } from '../workers/mta/transport';

interface Received {
  from: string;
  to: string;
  raw: string;
  secure: boolean;
  user: string | null;
  dsn: { ret: string | null; envid: string | null; notify: string[] | null; orcpt: string | null };
}

async function startServer(options: Partial<SMTPServerOptions>, refuse: (to: string) => number | null) {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    hideDSN: false,
    ...options,
    onRcptTo(address, _session, callback) {
      const code = refuse(address.address);
      if (code === null) return callback();
      const error = new Error(`refused ${code}`) as Error & { responseCode: number };
      error.responseCode = code;
      callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const to = session.envelope.rcptTo[0]?.address ?? '';
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to,
          raw,
          secure: session.secure,
          user: (session.user as string | undefined) ?? null,
          dsn: {
            ret: session.envelope.dsn?.ret ?? null,
            envid: session.envelope.dsn?.envid ?? null,
            notify: session.envelope.rcptTo[0]?.dsn?.notify ?? null,
            orcpt: session.envelope.rcptTo[0]?.dsn?.orcpt ?? null,
          },
        });
        if (to.startsWith('end421')) {
          const error = new Error('closing') as Error & { responseCode: number };
          error.responseCode = 421;
          return callback(error);
        }
        if (to.startsWith('end554')) {
          const error = new Error('content refused') as Error & { responseCode: number };
          error.responseCode = 554;
          return callback(error);
        }
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const raw = (to: string, body: string) =>
  Buffer.from(`From: a@example.test\r\nTo: ${to}\r\nSubject: x\r\n\r\n${body}`);

async function sendAll(transport: MtaTransport, addresses: string[], body = (i: number) => `hello ${i}\r\n`) {
  return Promise.all(
    addresses.map((to, i) =>
      transport.send(
        {
          from: 'bounces+1.2.3.abcdef=example.test@example.test',
          to,
          dsn: { envid: `1.${i}.3.abcdef@example.test`, notify: ['FAILURE', 'DELAY'], orcpt: `rfc822;${to}` },
        },
        raw(to, body(i)),
      ),
    ),
  );
}

describe.each([
  ['pipelined', {}],
  ['without PIPELINING', { hidePIPELINING: true }],
])('an SMTP session, %s', (_name, serverOptions) => {
  test('hands every message over once, byte for byte, with its DSN parameters', async () => {
    const server = await startServer(serverOptions, () => null);
    const pool = smtpConnectionPool(smtpOptions(`smtp://127.0.0.1:${server.port}`, 2));
    try {
      const addresses = Array.from({ length: 40 }, (_, i) => `user${i}@example.test`);
      // A line that starts with a dot, a bare LF and a body without a final line end travel as written.
      const results = await sendAll(pool, addresses, (i) =>
        i === 3 ? '.hidden\r\n..two\nbare lf\r\nlast' : `hello ${i}\r\n`,
      );
      expect(results.every((r) => r.ok)).toBe(true);
      expect(server.received.map((r) => r.to).sort()).toEqual([...addresses].sort());
      const third = server.received.find((r) => r.to === 'user3@example.test')!;
      expect(third.raw).toBe(
        'From: a@example.test\r\nTo: user3@example.test\r\nSubject: x\r\n\r\n.hidden\r\n..two\r\nbare lf\r\nlast\r\n',
      );
      expect(server.received.find((r) => r.to === 'user7@example.test')!.dsn).toEqual({
        ret: 'HDRS',
        envid: '1.7.3.abcdef@example.test',
        notify: ['FAILURE', 'DELAY'],
        orcpt: 'rfc822;user7@example.test',
      });
    } finally {
      await pool.close();
      await server.close();
    }
  });

  test('a refused recipient fails its message alone: hard for 5xx, temporary for 4xx, and the session goes on', async () => {
    const server = await startServer(serverOptions, (to) =>
      to.startsWith('gone') ? 550 : to.startsWith('later') ? 451 : null,
    );
    const pool = smtpConnectionPool(smtpOptions(`smtp://127.0.0.1:${server.port}`, 1));
    try {
      const addresses = ['a@example.test', 'gone@example.test', 'b@example.test', 'later@example.test'];
      addresses.push('end554@example.test', 'c@example.test');
      const results = await sendAll(pool, addresses);
      expect(results[0]).toEqual({ ok: true });
      expect(results[1]).toMatchObject({ ok: false, temporary: false, code: 550 });
      expect(results[2]).toEqual({ ok: true });
      expect(results[3]).toMatchObject({ ok: false, temporary: true, code: 451 });
      expect(results[4]).toMatchObject({ ok: false, temporary: false, code: 554 });
      expect(results[5]).toEqual({ ok: true });
      expect(server.received.map((r) => r.to)).toEqual([
        'a@example.test',
        'b@example.test',
        'end554@example.test',
        'c@example.test',
      ]);
    } finally {
      await pool.close();
      await server.close();
    }
  });

  test('a 421 ends the session: its messages are refused for now, and the next ones take a new session', async () => {
    const server = await startServer(serverOptions, () => null);
    const pool = smtpConnectionPool(smtpOptions(`smtp://127.0.0.1:${server.port}`, 1));
    try {
      const first = await sendAll(pool, ['a@example.test', 'end421@example.test']);
      expect(first[0]).toEqual({ ok: true });
      expect(first[1]).toMatchObject({ ok: false, temporary: true });
      const again = await sendAll(pool, ['b@example.test']);
      expect(again).toEqual([{ ok: true }]);
    } finally {
      await pool.close();
      await server.close();
    }
  });
});

test('STARTTLS then AUTH: credentials go over TLS, and the messages too', async () => {
  const server = await startServer(
    {
      disabledCommands: [],
      authOptional: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'user' && auth.password === 'secret') return callback(null, { user: 'user' });
        callback(new Error('bad credentials'));
      },
    },
    () => null,
  );
  // Loopback: STARTTLS is taken where offered, the self-signed certificate accepted.
  const pool = smtpConnectionPool(smtpOptions(`smtp://user:secret@127.0.0.1:${server.port}`, 2));
  const wrong = smtpConnectionPool(smtpOptions(`smtp://user:wrong@127.0.0.1:${server.port}`, 1));
  try {
    const results = await sendAll(pool, ['a@example.test', 'b@example.test', 'c@example.test']);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(server.received.map((r) => [r.secure, r.user])).toEqual([
      [true, 'user'],
      [true, 'user'],
      [true, 'user'],
    ]);
    const refused = await sendAll(wrong, ['d@example.test']);
    expect(refused[0]).toMatchObject({ ok: false, temporary: true });
    expect(server.received).toHaveLength(3);
  } finally {
    await pool.close();
    await wrong.close();
    await server.close();
  }
});

test('an MTA that is down refuses every message for now', async () => {
  const server = await startServer({}, () => null);
  const port = server.port;
  await server.close();
  const pool = smtpConnectionPool(smtpOptions(`smtp://127.0.0.1:${port}`, 2));
  try {
    const results = await sendAll(pool, ['a@example.test', 'b@example.test', 'c@example.test']);
    expect(results.every((r) => !r.ok && r.temporary)).toBe(true);
  } finally {
    await pool.close();
  }
});
