// A console client for tests: a cookie jar, the CSRF token of the last page read, and the console's forms posted
// as a browser posts them (application/x-www-form-urlencoded, no redirect followed).
import { cliWithInput } from './cli';
import type { TestEnv } from './env';

export const PASSWORD = 'correct horse battery staple';

/** Creates (or updates) an operator with roles and the test password. */
export async function addConsoleOperator(t: TestEnv, login: string, roles: string[], password = PASSWORD) {
  const r = await cliWithInput(
    t.env,
    `${password}\n`,
    'operator',
    'add',
    login,
    ...(roles.length ? ['--role', ...roles] : []),
    '--password-stdin',
    '--json',
  );
  if (r.code !== 0) throw new Error(r.stderr);
}

export interface Answer {
  status: number;
  text: string;
  location: string | null;
  headers: Headers;
}

export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(readonly base: string) {}

  private keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, ...value] = pair!.split('=');
      const v = value.join('=');
      if (v === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name!);
      else this.cookies.set(name!, v);
    }
  }

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: RequestInit = {}): Promise<Answer> {
    const response = await fetch(`${this.base}${path}`, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: this.cookieHeader },
    });
    this.keep(response);
    const text = await response.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (token) this.csrf = token;
    return {
      status: response.status,
      text,
      location: response.headers.get('location'),
      headers: response.headers,
    };
  }

  get(path: string): Promise<Answer> {
    return this.request(path);
  }

  /** Posts a form with the current CSRF token (unless `fields` sets `_csrf` itself). */
  post(path: string, fields: Record<string, string> = {}): Promise<Answer> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: this.csrf, ...fields }).toString(),
    });
  }

  async login(login: string, password = PASSWORD): Promise<Answer> {
    await this.get('/console/login');
    return this.post('/console/login', { login, password });
  }
}
