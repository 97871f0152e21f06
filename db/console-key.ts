// The console's CSRF HMAC key: made once, by whichever replica starts first, and kept in pipeline_state so
// that every replica signs and checks tokens alike (a form served by one is posted to another).
import { randomBytes } from 'node:crypto';
import type postgres from 'postgres';

export async function consoleCsrfKey(sql: postgres.Sql): Promise<string> {
  const fresh = randomBytes(32).toString('base64url');
  await sql`
    insert into pipeline_state (key, value) values ('console-csrf-key', ${sql.json(fresh)})
    on conflict (key) do nothing`;
  const [row] = await sql`select value from pipeline_state where key = 'console-csrf-key'`;
  return row!.value as string;
}
