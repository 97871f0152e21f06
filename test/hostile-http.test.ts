// Hostile HTTP clients (issue 18): security headers on every answer, connections per client capped, slow
// headers cut, SNS replays and certificate-URL fragments refused or free, credentials never sent in clear.
import { createSign, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import pino from 'pino';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../shared/config';
import { smtpConnectionPool, smtpOptions } from '../workers/mta/smtp-pool';
import { type FeedbackServer, startFeedbackServer } from '../workers/servers/feedback-http/server';
import { type SnsMessage, stringToSign } from '../workers/servers/feedback-http/sns';
import { guardServer } from '../workers/servers/http-guard';
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

  test('a client that never finishes its headers is cut off', async () => {
    const server = createServer({ connectionsCheckingInterval: 50 }, (_req, res) => res.end('ok'));
    guardServer(server, {
      headersTimeoutMs: 200,
      requestTimeoutMs: 300,
      connectionsPerClient: 4,
      maxConnections: 10,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const s = connect((server.address() as AddressInfo).port, '127.0.0.1');
      let answer = '';
      s.on('data', (d) => {
        answer += d.toString();
      });
      s.write('POST / HTTP/1.1\r\nHost: x\r\n'); // and nothing more
      await waitFor(async () => s.destroyed || s.readableEnded, 10_000, 'the slow client to be cut off');
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      server.close();
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
