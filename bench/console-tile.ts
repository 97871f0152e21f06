// `npm run bench -- console-tile [messages]`: the server time of a delivery's console dashboard and of the tile
// JSON its script polls, for a delivery of 1,000,000 messages (2 % failed over four reasons): the KPI tile reads
// the delivery_kpi_totals view (its stripes summed), the failures by reason one scan of the delivery's logs (reused 5 s by the console).
// p50 / p95 of 30 requests each, over loopback, measured at the client (so the figure includes the HTTP hop), and
// of the uncached reads alone (the first view of a delivery); the load beside.
import { loadavg } from 'node:os';
import pino from 'pino';
import { failuresByReason } from '../db/delivery-page';
import { deliveryStatus } from '../db/delivery-status';
import { addOperator } from '../db/operators';
import { hashPassword } from '../shared/password';
import { startProcess } from '../workers/start/process';
import { percentile } from './limits';
import { openBenchWorld } from './world';

const DELIVERY = 1;
const REASONS = ['user unknown', 'mailbox full', 'unreachable', 'refused'];

async function timed(url: string, cookie: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = performance.now();
    const r = await fetch(url, { headers: { cookie } });
    await r.text();
    if (r.status !== 200) throw new Error(`${url} answered ${r.status}`);
    times.push(performance.now() - at);
  }
  return times.sort((a, b) => a - b);
}

export async function benchConsoleTile(sizes: number[]): Promise<Record<string, unknown>> {
  const messages = sizes[0] ?? 1_000_000;
  const world = await openBenchWorld('console', { CONSOLE_PORT: '0' });
  const { sql, config } = world;
  try {
    await sql`
      insert into deliveries (id, label, state, efs, validity_seconds, retry_interval_seconds, sender, subject, token,
        to_send, valid_until, confirmed_at, sending_at, sent_at)
      values (${DELIVERY}, 'bench one million', 'sent', true, 259200, 3600, 'bench@bench.test', 's', 'tok',
        ${messages}, now() + interval '3 days', now(), now(), now())`;
    const seeded = performance.now();
    await sql`
      insert into delivery_logs (delivery_id, seq, email, status, attempts, message_id, failure_type, failure_reason,
        handed_off_at, updated_at)
      select ${DELIVERY}, g, 'r' || g || '@bench.test',
             (case when g % 50 = 0 then 'failed' else 'sent' end)::log_status, 1,
             '1.' || g || '.' || ${DELIVERY}::text || '.tok@bench.test',
             (case when g % 50 = 0 then (case when g % 200 = 0 then 'hard' else 'soft' end) end)::failure_type,
             case when g % 50 = 0 then (${sql.array(REASONS)}::text[])[1 + (g / 50) % 4] end, now(), now()
      from generate_series(0, ${messages - 1}) g`;
    const failed = Math.ceil(messages / 50);
    await sql`insert into delivery_kpis (delivery_id, sent, delivered, failed) values (${DELIVERY}, ${messages}, ${messages - failed}, ${failed})`;
    await sql`vacuum analyze delivery_logs`;
    const seedSeconds = (performance.now() - seeded) / 1000;
    await addOperator(sql, 'bench', [], await hashPassword('bench password long enough'));
    const proc = await startProcess(['console'], config, pino({ level: 'warn' }, pino.destination(2)));
    await proc.ready;
    try {
      const base = `http://127.0.0.1:${proc.consolePort()}`;
      const login = await fetch(`${base}/console/login`);
      const csrfCookie = login.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const token = /name="_csrf" value="([^"]+)"/.exec(await login.text())![1]!;
      const answer = await fetch(`${base}/console/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: csrfCookie },
        body: new URLSearchParams({ _csrf: token, login: 'bench', password: 'bench password long enough' }),
      });
      const cookie = [csrfCookie, ...answer.headers.getSetCookie().map((c) => c.split(';')[0])].join('; ');
      const load = loadavg()[0]!.toFixed(2);
      await timed(`${base}/console/deliveries/${DELIVERY}`, cookie, 3); // warm the cache and the plans
      const page = await timed(`${base}/console/deliveries/${DELIVERY}`, cookie, 30);
      const tile = await timed(`${base}/console/deliveries/${DELIVERY}/tile.json`, cookie, 30);
      // What a request pays when its delivery's failures are not cached (the first view, then once per 5 s).
      const cold: number[] = [];
      for (let i = 0; i < 10; i++) {
        const at = performance.now();
        await Promise.all([deliveryStatus(sql, String(DELIVERY)), failuresByReason(sql, String(DELIVERY))]);
        cold.push(performance.now() - at);
      }
      const result = {
        messages,
        seedSeconds: Number(seedSeconds.toFixed(1)),
        dashboardP50Ms: Number(percentile(page, 0.5).toFixed(1)),
        dashboardP95Ms: Number(percentile(page, 0.95).toFixed(1)),
        tileJsonP50Ms: Number(percentile(tile, 0.5).toFixed(1)),
        tileJsonP95Ms: Number(percentile(tile, 0.95).toFixed(1)),
        uncachedReadP50Ms: Number(percentile(cold, 0.5).toFixed(1)),
        uncachedReadP95Ms: Number(percentile(cold, 0.95).toFixed(1)),
        loadAverageAtStart: load,
        loadAverageAtEnd: loadavg()[0]!.toFixed(2),
      };
      console.log(JSON.stringify(result));
      return result;
    } finally {
      await proc.stop();
    }
  } finally {
    await world.close();
  }
}
