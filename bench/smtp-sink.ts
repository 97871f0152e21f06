// A loopback SMTP sink for benchmarks, in its own process: accepts and discards, prints its port; on an
// IPC 'arm' it reports the wall-clock time at which the next message was fully received.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

let received = 0;
let armed = false;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  maxClients: 1000,
  onData(stream, _session, callback) {
    stream.on('data', () => {});
    stream.on('end', () => {
      received++;
      if (armed) {
        armed = false;
        process.send?.({ firstAt: performance.timeOrigin + performance.now() });
      }
      callback();
    });
  },
});
server.on('error', () => {});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.server.address() as AddressInfo).port}\n`);
});
process.on('message', (message) => {
  if (message === 'arm') {
    armed = true;
    process.send?.({ armed: true });
  } else process.send?.({ received });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
