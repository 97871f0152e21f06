// The console over TLS (CONSOLE_TLS_CERT / CONSOLE_TLS_KEY): a self-signed certificate made for the test, a login
// over https whose session and CSRF cookies are Secure, HttpOnly and SameSite=Strict, and the same login over plain
// http whose cookies are not Secure.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PipelineProcess } from '../workers/start/process';
import { selfSignedCertificate } from './helpers/certificate';
import { addConsoleOperator, PASSWORD } from './helpers/console';
import { createTestEnv, type TestEnv } from './helpers/env';
import { startPipeline } from './helpers/pipeline';

let t: TestEnv;
let dir: string;
let cert: Buffer;
let tls: PipelineProcess;
let plain: PipelineProcess;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'console-tls-'));
  const { certFile, keyFile } = selfSignedCertificate(dir, '/CN=localhost', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  cert = readFileSync(certFile);
  t = await createTestEnv();
  // Two consoles on one database: one serving HTTPS itself, one plain HTTP (as behind a loopback proxy).
  tls = await startPipeline(t, {
    roles: ['console'],
    env: { CONSOLE_TLS_CERT: certFile, CONSOLE_TLS_KEY: keyFile },
  });
  plain = await startPipeline(t, { roles: ['console'] });
  await addConsoleOperator(t, 'carol', ['start-deliveries']);
});

afterAll(async () => {
  await tls?.stop();
  await plain?.stop();
  await t?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  cookies: string[];
  location?: string;
  text: string;
}

/** One request over https (trusting only the test's certificate) or http; no redirect followed. */
function ask(
  scheme: 'https' | 'http',
  port: number,
  urlPath: string,
  options: { method?: string; cookie?: string; form?: Record<string, string> } = {},
): Promise<Answer> {
  const body = options.form ? new URLSearchParams(options.form).toString() : undefined;
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  const request = scheme === 'https' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: urlPath, method: options.method ?? 'GET', headers, ca: cert },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            cookies: res.headers['set-cookie'] ?? [],
            location: res.headers.location,
            text,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const pairs = (cookies: string[]) => cookies.map((c) => c.split(';')[0]!).join('; ');
const named = (cookies: string[], name: string) => cookies.find((c) => c.startsWith(`${name}=`));

/** Logs carol in: the login form (its CSRF token and cookie), then the POST; returns every cookie set. */
async function logIn(scheme: 'https' | 'http', port: number) {
  const form = await ask(scheme, port, '/console/login');
  expect(form.status).toBe(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
  const login = await ask(scheme, port, '/console/login', {
    method: 'POST',
    cookie: pairs(form.cookies),
    form: { login: 'carol', password: PASSWORD, _csrf: csrf },
  });
  return { form, login };
}

test('over https the session and CSRF cookies are Secure, HttpOnly and SameSite=Strict, and the session works', async () => {
  const port = tls.consolePort()!;
  const { form, login } = await logIn('https', port);
  expect(login.status).toBe(303);
  const session = named(login.cookies, 'campaign_session')!;
  expect(session).toMatch(/; Secure/i);
  expect(session).toMatch(/; HttpOnly/i);
  expect(session).toMatch(/; SameSite=Strict/i);
  expect(named(form.cookies, 'campaign_csrf')).toMatch(/; Secure/i);
  const page = await ask('https', port, '/console/deliveries', {
    cookie: pairs([...form.cookies, ...login.cookies]),
  });
  expect(page.status).toBe(200);
  expect(page.text).toContain('carol');
});

test('the TLS console does not answer plain http', async () => {
  // Node's TLS server drops a request that is not a TLS handshake: no page, no cookie in clear.
  const outcome = await ask('http', tls.consolePort()!, '/console/login').then(
    (answer) => `answered ${answer.status}`,
    (error: Error) => error.message,
  );
  expect(outcome).toMatch(/socket hang up|ECONNRESET/);
});

test('over plain http the same cookies are HttpOnly and SameSite=Strict, but not Secure', async () => {
  const { form, login } = await logIn('http', plain.consolePort()!);
  expect(login.status).toBe(303);
  const session = named(login.cookies, 'campaign_session')!;
  expect(session).toMatch(/; HttpOnly/i);
  expect(session).toMatch(/; SameSite=Strict/i);
  expect(session).not.toMatch(/Secure/i);
  expect(named(form.cookies, 'campaign_csrf')).not.toMatch(/Secure/i);
});
