// The raw SMTP limit: pre-built messages blasted over N pipelined connections (RFC 2920), no database, no queue.
import net from 'node:net';

/** A message ready for the wire: envelope and dot-stuffed bytes ending in CRLF. */
export interface WireMessage {
  from: string;
  to: string;
  data: Buffer;
}

/** Dot-stuffs a raw message and ends it with CRLF, once, before the clock starts. */
export function toWire(from: string, to: string, raw: Buffer): WireMessage {
  let text = raw.toString('binary').replace(/\r?\n/g, '\r\n');
  text = text.replace(/^\./gm, '..');
  if (!text.endsWith('\r\n')) text += '\r\n';
  return { from, to, data: Buffer.from(text, 'binary') };
}

const END = Buffer.from('.\r\n');

/**
 * One connection: after each 354 the message, its end and the next envelope go out in one write, so a
 * message costs one round trip. Resolves with the messages the sink accepted.
 */
function blastOne(port: number, take: () => WireMessage | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const expected: ('greeting' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'end' | 'quit')[] = ['greeting'];
    let pending: WireMessage | null = null;
    let accepted = 0;
    let rest = '';
    const envelope = (m: WireMessage) => `MAIL FROM:<${m.from}>\r\nRCPT TO:<${m.to}>\r\nDATA\r\n`;
    const next = (): string => {
      pending = take();
      if (!pending) {
        expected.push('quit');
        return 'QUIT\r\n';
      }
      expected.push('mail', 'rcpt', 'data');
      return envelope(pending);
    };
    socket.on('error', reject);
    socket.on('close', () => resolve(accepted));
    socket.on('data', (chunk) => {
      rest += chunk.toString('latin1');
      let at = rest.indexOf('\r\n');
      while (at >= 0) {
        const line = rest.slice(0, at);
        rest = rest.slice(at + 2);
        at = rest.indexOf('\r\n');
        if (line[3] === '-') continue; // a continued multi-line reply
        const code = Number(line.slice(0, 3));
        const kind = expected.shift();
        if (code >= 400) {
          socket.destroy();
          return reject(new Error(`the sink answered ${line} to ${kind}`));
        }
        if (kind === 'greeting') {
          expected.push('ehlo');
          socket.write('EHLO bench.test\r\n');
        } else if (kind === 'ehlo') {
          socket.write(next());
        } else if (kind === 'data') {
          const m = pending!;
          expected.push('end');
          socket.write(Buffer.concat([m.data, END, Buffer.from(next())]));
        } else if (kind === 'end') {
          accepted++;
        } else if (kind === 'quit') {
          socket.end();
        }
      }
    });
  });
}

/** Blasts `total` messages (cycling through `messages`) over `connections`; returns messages per second. */
export async function blastSmtp(
  port: number,
  connections: number,
  messages: WireMessage[],
  total: number,
): Promise<{ messagesPerSecond: number; seconds: number; accepted: number }> {
  let sent = 0;
  const take = () => (sent < total ? messages[sent++ % messages.length]! : null);
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: connections }, () => blastOne(port, take)));
  const seconds = (performance.now() - started) / 1000;
  const accepted = counts.reduce((a, b) => a + b, 0);
  if (accepted !== total) throw new Error(`the sink accepted ${accepted} of ${total} messages`);
  return { messagesPerSecond: accepted / seconds, seconds, accepted };
}
