// The command line in a pipe: a reader that closes early (`campaign logs ID | head -1`) ends it quietly.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { cli } from './helpers/cli';
import { createTestEnv, type TestEnv } from './helpers/env';
import { recipientsCsv } from './helpers/fixtures';

const ROOT = path.resolve(__dirname, '..');
let t: TestEnv;

beforeAll(async () => {
  t = await createTestEnv();
});

afterAll(async () => {
  await t.cleanup();
});

test('campaign logs ID | head -1 prints one line, no stack trace, and the command exits 0', async () => {
  const created = await cli(
    t.env,
    'delivery',
    'create',
    '--label',
    'piped',
    '--recipients',
    recipientsCsv(1),
    '--json',
  );
  const { id } = created.json<{ id: string }>();
  // Far more lines than a pipe holds, so that the command is still writing when head goes away.
  await t.sql`
    insert into delivery_logs (delivery_id, seq, email, status, message_id)
    select ${id}, n, 'r' || n || '@example.test', 'sent', '<m' || n || '@example.test>'
    from generate_series(0, 49999) n`;
  const command = `node --import tsx workers/cli/main.ts logs ${id} | head -1; echo "exit $\{PIPESTATUS[0]}" >&2`;
  const { stdout, stderr } = await promisify(execFile)('bash', ['-c', command], {
    cwd: ROOT,
    env: { ...process.env, ...t.env },
  });
  expect(stdout).toBe('r0@example.test\tsent\t-\t-\t1\t<m0@example.test>\n');
  expect(stderr).toBe('exit 0\n');
});
