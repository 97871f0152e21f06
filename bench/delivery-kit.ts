// What the dispatch benchmarks share: a recipients file, the SMTP sink process, a prepared delivery.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import type postgres from 'postgres';
import { createDeliveryWithTargets, type NewDelivery } from '../db/import';
import { readRecipientBatches } from '../shared/recipients';

const TMP = path.join(__dirname, 'tmp');

/** The content every dispatch benchmark sends: about 1 KB of text and HTML, personalized. */
export const CONTENT: Omit<NewDelivery, 'label'> = {
  efs: false,
  validitySeconds: 86_400,
  retryIntervalSeconds: 3600,
  contactDate: null,
  sender: 'bench@example.test',
  subject: 'Hello {{first}}',
  textBody: 'Dear {{first}},\nthe weather in {{city}} is fine.\n'.repeat(8),
  htmlBody: '<p>Dear {{first}},</p><p>the weather in {{city}} is fine.</p>'.repeat(8),
  columns: ['first', 'city'],
};

/** A CSV of `count` recipients (written once, kept under bench/tmp for the next run). */
export async function writeRecipients(count: number): Promise<string> {
  mkdirSync(TMP, { recursive: true });
  const file = path.join(TMP, `recipients-${count}.csv`);
  if (existsSync(file)) return file;
  const part = `${file}.part`;
  const out = createWriteStream(part);
  out.write('email,first,city\n');
  for (let i = 0; i < count; i++) {
    if (!out.write(`user${i}@example${i % 97}.test,First${i},City${i % 500}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  renameSync(part, file);
  return file;
}

/** The loopback SMTP sink in its own process (bench/smtp-sink.ts). */
export interface Sink {
  child: ChildProcess;
  port: number;
  url: string;
  /** Resolves with the wall-clock time (ms, fractional) at which the next message is fully received. */
  nextMessageAt(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const child = fork(path.join(__dirname, 'smtp-sink.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  return {
    child,
    port,
    url: `smtp://127.0.0.1:${port}`,
    async nextMessageAt() {
      const first = new Promise<number>((resolve) => {
        const on = (m: { firstAt?: number }) => {
          if (m.firstAt === undefined) return;
          child.off('message', on);
          resolve(m.firstAt);
        };
        child.on('message', on);
      });
      const armed = new Promise((resolve) => {
        const on = (m: { armed?: boolean }) => {
          if (!m.armed) return;
          child.off('message', on);
          resolve(null);
        };
        child.on('message', on);
      });
      child.send('arm');
      await armed;
      return first;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** An operator who may start deliveries, as the confirm step requires. */
export async function addBenchOperator(sql: postgres.Sql): Promise<void> {
  await sql`insert into operators (login) values ('bench') on conflict do nothing`;
  await sql`insert into operator_roles (operator_id, role)
    select id, 'start-deliveries' from operators where login = 'bench' on conflict do nothing`;
}

/** Imports the recipients file as a prepared delivery; returns its id. */
export async function prepareDelivery(
  sql: postgres.Sql,
  file: string,
  label: string,
  quarantine: { mailboxFullReleaseMs: number },
): Promise<{ id: string; rows: number }> {
  const result = await createDeliveryWithTargets(
    sql,
    { ...CONTENT, label },
    readRecipientBatches(file, ['first', 'city']),
    { now: Date.now(), quarantine },
  );
  return { id: result.id, rows: result.rows };
}
