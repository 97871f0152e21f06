// Which SMTP command a failure answered, as bounce reports write it. Pure.
//
// It matters for one reason: a "user unknown" answered to DATA comes from a filter, since the server had accepted
// the recipient at RCPT TO (classify.ts calls it refused, never a missing mailbox). Each MTA writes it its own way:
// Postfix "(in reply to end of DATA command)", Exim "SMTP error from remote mail server after end of data",
// Sendmail and Courier a transcript (">>> DATA" then "<<< 550 …"), m-FILTER "SMTP command" and the verb below it.

/** The commands a report names, by the verb that starts them. */
export type SmtpCommand = 'CONN' | 'EHLO' | 'MAIL' | 'RCPT' | 'DATA';

const VERBS: ReadonlyArray<readonly [SmtpCommand, RegExp]> = [
  ['DATA', /^(?:end of )?data\b|^\.$/i],
  ['RCPT', /^rcpt\b/i],
  ['MAIL', /^mail\b/i],
  ['EHLO', /^(?:ehlo|helo)\b/i],
  ['CONN', /^(?:connect|initial|greeting|banner)/i],
];

/** The command a verb names ('RCPT TO', 'end of DATA', …), or undefined. */
export function verbOf(text: string): SmtpCommand | undefined {
  const t = text.trim();
  return VERBS.find(([, pattern]) => pattern.test(t))?.[0];
}

const IN_REPLY_TO = /in reply to ((?:end of )?[a-z]+(?: (?:to|from))?) command/i;
const EXIM_AFTER = /\bafter ((?:end of )?data|rcpt\b|mail\b|initial connection)/i;
const MFILTER = /SMTP command\s*[:\n]\s*-*\s*([A-Z]{4})\b/;

/**
 * The command the reply in `text` answered, or undefined. `reply`, when given, is the reply itself (e.g. "550 Unknown
 * user"): in a transcript the command is the last ">>> VERB" before it, except that a pipelining client writes
 * ">>> DATA" before the RCPT replies, which its "Need RCPT" answer to DATA then gives away.
 */
export function smtpCommandIn(text: string, reply?: string): SmtpCommand | undefined {
  const postfix = IN_REPLY_TO.exec(text)?.[1];
  if (postfix) return verbOf(postfix);
  const exim = EXIM_AFTER.exec(text)?.[1];
  if (exim) return verbOf(exim);
  const mfilter = MFILTER.exec(text)?.[1];
  if (mfilter) return verbOf(mfilter);
  const probe = reply?.trim().slice(0, 40);
  const at = probe ? text.lastIndexOf(probe) : -1;
  if (at < 0) return undefined;
  const sent = [...text.slice(0, at).matchAll(/^>>> ?(.+)$/gm)].at(-1)?.[1];
  if (!sent) return undefined;
  const verb = verbOf(sent);
  if (verb === 'DATA' && /\b503\b[^\n]*need (?:rcpt|recipient)|no valid recipients/i.test(text.slice(at)))
    return 'RCPT';
  return verb;
}
