// Builds test deliveries and operators through the real CLI.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli } from './cli';
import type { TestEnv } from './env';

const dir = mkdtempSync(path.join(tmpdir(), 'campaign-test-'));
let files = 0;

/** Writes a CSV of `count` recipients (r0@example.test …) with a `first` column. */
export function recipientsCsv(count: number, extra: (i: number) => string = (i) => `Name${i}`): string {
  const file = path.join(dir, `r${files++}.csv`);
  const lines = ['email,first'];
  for (let i = 0; i < count; i++) lines.push(`r${i}@example.test,${extra(i)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export async function addOperator(
  t: TestEnv,
  login: string,
  roles: string[] = ['start-deliveries'],
): Promise<void> {
  const args = ['operator', 'add', login, ...(roles.length ? ['--role', ...roles] : []), '--json'];
  const r = await cli(t.env, ...args);
  if (r.code !== 0) throw new Error(r.stderr);
}

/** Creates a prepared delivery; returns its id. */
export async function createDelivery(t: TestEnv, count: number, ...options: string[]): Promise<string> {
  const r = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'test',
    '--recipients',
    recipientsCsv(count),
    '--json',
    ...options,
  );
  if (r.code !== 0) throw new Error(r.stderr);
  return r.json<{ id: string }>().id;
}

/** Creates a delivery, confirms it as alice and waits until every message is at the MTA; returns its id. */
export async function confirmedDelivery(t: TestEnv, count: number, ...options: string[]): Promise<string> {
  const id = await createDelivery(t, count, ...options);
  const r = await cli(t.env, 'confirm', id, '--as', 'alice', '--wait');
  if (r.code !== 0) throw new Error(r.stderr);
  return id;
}
