// Hostile HTTP clients (issue 18): security headers on every answer, connections per client capped, slow
// headers cut, SNS replays and certificate-URL fragments refused or free, credentials never sent in clear.
import { createSign, generateKeyPairSync } from 'node:crypto';
import { type AddressInfo, connect, type Socket } from 'node:net';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../shared/config';
import { smtpConnectionPool, smtpOptions } from '../workers/mta/smtp-pool';
import { type FeedbackServer, startFeedbackServer } from '../workers/servers/feedback-http/server';
import { type SnsMessage, stringToSign } from '../workers/servers/feedback-http/sns';
import { apiSecurityHeaders, buildHttpServer } from '../workers/servers/http-server';
import type { PipelineProcess } from '../workers/start/process';
import { createTestEnv, type TestEnv } from './helpers/env';
import { startPipeline, testQueue, waitFor } from './helpers/pipeline';

const TOKEN = 'hostile-http-token-0123456789';
const TOPIC = 'arn:aws:sns:us-west-2:123456789012:MyTopic';
const CERT_URL = 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0123abcd.pem';
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

let t: TestEnv;
let pipeline: PipelineProcess;
let feedback: FeedbackServer;
const fetched: string[] = [];
const queues: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await createTestEnv({ FEEDBACK_TOKEN: TOKEN, SNS_TOPIC_ARNS: TOPIC });
  pipeline = await startPipeline(t, { roles: ['metrics'] });
  const fb = testQueue(t, 'mta-feedback');
  const trk = testQueue(t, 'tracking-events');
  queues.push(fb, trk);
  feedback = await startFeedbackServer({
    config: t.config,
    log: pino({ level: 'silent' }),
    sql: t.sql,
    feedbackQueue: fb.queue,
    trackingQueue: trk.queue,
    fetchText: async (url) => {
      fetched.push(url);
      return publicKey.export({ type: 'spki', format: 'pem' }).toString();
    },
  });
});

afterAll(async () => {
  await feedback.close();
  await Promise.all(queues.map((q) => q.close()));
  await pipeline.stop();
  await t.cleanup();
});

const feedbackUrl = (path: string) => `http://127.0.0.1:${feedback.port()}${path}`;

describe('security headers on every answer', () => {
  test.each(['/healthz', '/metrics', '/deliveries', '/deliveries/1', '/nowhere'])(
    'metrics port %s',
    async (path) => {
      const res = await fetch(`http://127.0.0.1:${pipeline.port()}${path}`);
      await res.text();
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    },
  );

  test('a delivery page may run its own inline script, by hash, and nothing else', async () => {
    const res = await fetch(`http://127.0.0.1:${pipeline.port()}/deliveries`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src ('sha256-[A-Za-z0-9+/=]+'|'none')/);
    expect(csp).not.toContain("script-src 'unsafe-inline'");
    await res.text();
  });

  test('the feedback receiver, refusing or not', async () => {
    for (const [path, init] of [
      ['/feedback/generic', { method: 'POST', body: '{}' }],
      ['/elsewhere', {}],
    ] as const) {
      const res = await fetch(feedbackUrl(path), init);
      await res.text();
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    }
  });
});

describe('the feedback receiver refuses before it reads', () => {
  /** Writes a raw request and reads the whole answer, until the server closes the connection or ends it. */
  const raw = (head: string, body: string | Buffer = '') =>
    new Promise<{ answer: string; closed: boolean }>((resolve) => {
      const s = connect(feedback.port(), '127.0.0.1');
      let answer = '';
      s.on('data', (d) => {
        answer += d.toString();
      });
      s.on('error', () => {});
      s.on('close', () => resolve({ answer, closed: true }));
      s.write(head);
      s.write(body);
    });
  const jsonOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

  test('a body over 10 MB is a 413 naming the limit, answered at once from Content-Length, and the connection closed', async () => {
    const { answer, closed } = await raw(
      `POST /feedback/sparkpost HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024 + 1}\r\n\r\n`,
      '[',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/i);
    expect(jsonOf(answer)).toEqual({ error: 'the body is over 10485760 bytes' });
    expect(closed).toBe(true);
  });

  test('an SNS body sent chunked past 300 KB is a 413 too, and is not kept', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = Array.from({ length: 5 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
    const { answer } = await raw(
      'POST /feedback/ses HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n',
      `${chunks}0\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(jsonOf(answer)).toEqual({ error: 'the body is over 307200 bytes' });
    expect(await t.sql`select 1 from dead_letters where queue = 'feedback-http/ses'`).toHaveLength(0);
  });

  test.each([
    ['GET', '/feedback/generic', TOKEN, 405, 'only POST is accepted'],
    ['PUT', '/feedback/nowhere', '', 405, 'only POST is accepted'],
    [
      'POST',
      '/feedback/nowhere',
      TOKEN,
      404,
      'no provider "nowhere"; expected sparkpost, ses, kumomta, generic',
    ],
    ['POST', '/feedback/Generic', TOKEN, 404, 'not found; POST /feedback/{sparkpost,ses,kumomta,generic}'],
    ['POST', '/feedback', TOKEN, 404, 'not found; POST /feedback/{sparkpost,ses,kumomta,generic}'],
    ['POST', '/elsewhere', TOKEN, 404, 'not found; POST /feedback/{sparkpost,ses,kumomta,generic}'],
    ['POST', '/feedback/%zz', TOKEN, 404, 'not found; POST /feedback/{sparkpost,ses,kumomta,generic}'],
    ['POST', '/feedback/generic/x', TOKEN, 404, 'not found; POST /feedback/{sparkpost,ses,kumomta,generic}'],
    ['POST', '/feedback/kumomta', 'wrong-token', 401, 'missing or wrong token'],
  ])('%s %s (token %s): %s', async (method, path, token, status, error) => {
    const res = await fetch(feedbackUrl(path), {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(method === 'GET' ? {} : { body: 'not read' }),
    });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ error });
  });

  test('a body with no content type, or one no parser knows, is read all the same (and kept when bad)', async () => {
    for (const type of [undefined, 'application/x-unheard-of']) {
      const res = await fetch(feedbackUrl('/feedback/generic/'), {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, ...(type ? { 'content-type': type } : {}) },
        body: Buffer.from(`{"events": [] ${type ?? 'none'}`),
      });
      expect(res.status).toBe(400);
      await res.text();
    }
    const kept = await t.sql`
      select payload->>'body' as body from dead_letters where queue = 'feedback-http/generic' order by id`;
    expect(kept.map((r) => r.body)).toEqual(
      expect.arrayContaining(['{"events": [] none', '{"events": [] application/x-unheard-of']),
    );
  });
});

describe('graceful close of the feedback receiver', () => {
  test('a request being stored when close() comes is still answered 200 (and its connection closed); new ones are not taken', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const added: string[] = [];
    // Queues that hold the first job until released: the request is mid-way (its events not yet in Redis).
    const slow = (name: string) =>
      ({
        name,
        add: async (_name: string, _data: unknown, opts: { jobId: string }) => {
          added.push(opts.jobId);
          await held;
          return { id: opts.jobId };
        },
      }) as never;
    const server = await startFeedbackServer({
      config: { ...t.config, FEEDBACK_PORT: 0, BIND_ADDRESS: '127.0.0.1' },
      log: pino({ level: 'silent' }),
      sql: t.sql,
      feedbackQueue: slow('mta-feedback'),
      trackingQueue: slow('tracking-events'),
    });
    const url = `http://127.0.0.1:${server.port()}/feedback/generic`;
    const events = [
      {
        eventId: 'close-1',
        messageId: '1.0.1.x@y.test',
        type: 'delivered',
        occurredAt: new Date().toISOString(),
      },
    ];
    const inFlight = fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    await waitFor(async () => added.length > 0, 10_000, 'the request to reach the queue');
    const closed = server.close();
    const late = await fetch(url, { method: 'POST', body: '{}' }).then(
      (res) => `answered ${res.status}`,
      (error: Error) => String((error.cause as { code?: string })?.code ?? error.message),
    );
    // Refused, reset while the listener closes, or 503 on the way: never taken.
    expect(late).toMatch(/ECONNREFUSED|ECONNRESET|answered 503/);
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toMatchObject({ accepted: 1, jobIds: [added[0]] });
    await closed;
  });
});

describe('connections', () => {
  test('one client holds at most 32 connections; the rest are closed at once', async () => {
    const sockets: Socket[] = [];
    const closed = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const s = connect(feedback.port(), '127.0.0.1');
      s.on('close', () => closed.add(i));
      s.on('error', () => {});
      sockets.push(s);
    }
    try {
      await waitFor(async () => closed.size >= 8, 10_000, 'the connections over the cap to close');
      // Earlier tests' keep-alive connections from this address count too: at most 32 of these stay open.
      expect(sockets.length - closed.size).toBeLessThanOrEqual(32);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  // The servers' own limits (10 s, 30 s) made small: the same builder, the same node time-outs.
  const tight = async () => {
    const app = buildHttpServer({
      bodyLimit: 1024,
      headers: apiSecurityHeaders,
      badUrl: (_request, reply) => reply.code(404).send('no such path'),
      limits: {
        headersTimeoutMs: 200,
        requestTimeoutMs: 300,
        connectionsPerClient: 4,
        maxConnections: 10,
        checkIntervalMs: 50,
      },
    });
    app.post('/', (_request, reply) => reply.send('ok'));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app;
  };
  const answerTo = async (port: number, write: (s: Socket) => void) => {
    const s = connect(port, '127.0.0.1');
    let answer = '';
    s.on('data', (d) => {
      answer += d.toString();
    });
    s.on('error', () => {});
    write(s);
    await waitFor(async () => s.destroyed || s.readableEnded, 10_000, 'the slow client to be cut off');
    return answer;
  };

  test('a client that never finishes its headers is cut off', async () => {
    const app = await tight();
    try {
      const answer = await answerTo(
        (app.server.address() as AddressInfo).port,
        (s) => s.write('POST / HTTP/1.1\r\nHost: x\r\n'), // and nothing more
      );
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await app.close();
    }
  });

  test('a client that trickles its body past the request time-out is cut off', async () => {
    const app = await tight();
    try {
      const answer = await answerTo((app.server.address() as AddressInfo).port, (s) =>
        s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nab'),
      );
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await app.close();
    }
  });
});

describe('SNS', () => {
  function signed(fields: Partial<SnsMessage>): SnsMessage {
    const m: SnsMessage = {
      Type: 'Notification',
      MessageId: `m-${Math.random()}`,
      TopicArn: TOPIC,
      Message: JSON.stringify({
        notificationType: 'Delivery',
        mail: { messageId: 'x' },
        delivery: { timestamp: new Date().toISOString(), recipients: ['r@example.test'] },
      }),
      Timestamp: new Date().toISOString(),
      SignatureVersion: '1',
      Signature: '',
      SigningCertURL: CERT_URL,
      ...fields,
    };
    const signer = createSign('RSA-SHA1');
    signer.update(stringToSign(m));
    return { ...m, Signature: signer.sign(privateKey, 'base64') };
  }
  const post = async (m: SnsMessage) => {
    const res = await fetch(feedbackUrl('/feedback/ses'), { method: 'POST', body: JSON.stringify(m) });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };

  test('a validly signed message more than an hour old is refused as a replay', async () => {
    const old = signed({ Timestamp: new Date(Date.now() - 2 * 3600_000).toISOString() });
    expect(await post(old)).toEqual({ status: 403, body: { error: expect.stringContaining('replay') } });
  });

  test('certificate URLs that differ only by a fragment cost one fetch', async () => {
    const before = fetched.length;
    for (const fragment of ['', '#a', '#b', '#c']) {
      const res = await post(signed({ SigningCertURL: `${CERT_URL}${fragment}` }));
      expect(res).toMatchObject({ status: 200, body: { accepted: 1 } });
    }
    expect(fetched.slice(before)).toEqual([CERT_URL]);
  });
});

describe('credentials to the MTA', () => {
  test('MTA_URL with credentials requires TLS, except on loopback', () => {
    expect(smtpOptions('smtp://u:p@mta.example.test:587', 1).requireTLS).toBe(true);
    expect(smtpOptions('smtps://u:p@mta.example.test', 1).requireTLS).toBe(false); // TLS from the start
    expect(smtpOptions('smtp://mta.example.test', 1).requireTLS).toBe(false); // nothing to protect
    expect(smtpOptions('smtp://u:p@127.0.0.1:2525', 1).requireTLS).toBe(false);
  });

  test('with requireTLS, an MTA that offers no STARTTLS is never sent AUTH', async () => {
    const auths: string[] = [];
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, _session, callback) {
        auths.push(auth.username ?? '');
        callback(null, { user: auth.username });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.server.address() as AddressInfo).port;
    const pool = smtpConnectionPool({
      ...smtpOptions(`smtp://user:secret@127.0.0.1:${port}`, 1),
      requireTLS: true,
    });
    try {
      const raw = Buffer.from('From: a@example.test\r\nTo: b@example.test\r\nSubject: x\r\n\r\nhi\r\n');
      const result = await pool.send({ from: 'a@example.test', to: 'b@example.test' }, raw);
      // nodemailer insists on STARTTLS, which this MTA does not know: the hand-off fails before AUTH.
      expect(result).toMatchObject({ ok: false });
      expect(auths).toEqual([]);
    } finally {
      await pool.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

test('BIND_ADDRESS must be an IP address', () => {
  expect(() => loadConfig({ BIND_ADDRESS: 'everywhere' })).toThrow(/BIND_ADDRESS.*not an IP address/);
  expect(loadConfig({ BIND_ADDRESS: '127.0.0.1' }).BIND_ADDRESS).toBe('127.0.0.1');
});
