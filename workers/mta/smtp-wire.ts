// A raw message as SMTP's DATA carries it (RFC 5321 4.5.2): CRLF line ends, a leading dot doubled, a final CRLF.
// Built messages (shared/message.ts) already have CRLF ends and rarely a leading dot: they go out as they are.

const CR = 13;
const LF = 10;
const DOT = 46;
const CRLF = Buffer.from('\r\n');

/** True when some line starts with a dot or ends in a bare LF: the bytes must be rewritten. */
function needsRewrite(raw: Buffer): boolean {
  if (raw[0] === DOT) return true;
  for (let at = raw.indexOf(LF); at >= 0; at = raw.indexOf(LF, at + 1)) {
    if (at === 0 || raw[at - 1] !== CR || raw[at + 1] === DOT) return true;
  }
  return false;
}

/** The DATA bytes of a raw message, without the final dot line: the buffers to write, in order. */
export function toWireData(raw: Buffer): Buffer[] {
  if (needsRewrite(raw)) {
    const text = raw.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    raw = Buffer.from(text, 'latin1');
  }
  if (raw.length >= 2 && raw[raw.length - 2] === CR && raw[raw.length - 1] === LF) return [raw];
  return raw.length === 0 ? [] : [raw, CRLF];
}
