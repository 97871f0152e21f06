// The one line that says which backing service is unreachable names the way to start it where it is expected.
import { ServiceUnavailable } from './services';

const refused = { code: 'ECONNREFUSED' };

test('the advice for a Redis on a non-default port starts one on that port', () => {
  const message = new ServiceUnavailable('Redis', 'redis://127.0.0.1:6999', refused).message;
  expect(message).toContain('Redis is not reachable at redis://127.0.0.1:6999 (ECONNREFUSED)');
  expect(message).toContain('--port 6999 ');
  expect(message).not.toContain('6379');
});

test('a Redis URL without a port, or a cluster URL, gets the port Redis would use', () => {
  expect(new ServiceUnavailable('Redis', 'redis://127.0.0.1', refused).message).toContain('--port 6379 ');
  expect(
    new ServiceUnavailable('Redis', 'redis+cluster://127.0.0.1:7001,127.0.0.1:7002', refused).message,
  ).toContain('--port 7001 ');
});

test('the PostgreSQL advice is unchanged', () => {
  expect(new ServiceUnavailable('PostgreSQL', 'postgres://x@127.0.0.1:5432/db', refused).message).toContain(
    'start it with: pg_ctlcluster',
  );
});
