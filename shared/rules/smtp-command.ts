// Which SMTP command a failure answered, as bounce reports write it: the one reader of it (the bounce reader and the
// classifier both call it). Pure.
//
// It matters because the stage says what a reply is about. A reply to RCPT TO speaks of that recipient; one to DATA
// of the message (the server had accepted the recipient, so a "user unknown" there is a filter's); one to MAIL FROM,
// EHLO or the greeting of the sender or its host (classify.ts never blames the recipient for those). Each MTA writes
// it its own way: Postfix "(in reply to end of DATA command)", Exim "SMTP error from remote mail server after end of
// data" (or "after RCPT TO:<a@b>", "after pipelined MAIL FROM"), Sendmail and Courier a transcript (">>> DATA" then
// "<<< 550 …"), Postfix at the greeting "refused to talk to me", qmail and the DragonFly Mail Agent in words ("does not
// like recipient", "did not like our RCPT TO"), m-FILTER an "SMTP command" block with the verb below it, Yahoo a
// "[RCPT_TO]" tag.

/** The commands a report names, by the verb that starts them (BDAT, RFC 3030's DATA, counts as DATA). */
export type SmtpCommand = 'CONN' | 'EHLO' | 'MAIL' | 'RCPT' | 'DATA';

const VERBS: ReadonlyArray<readonly [SmtpCommand, RegExp]> = [
  // CHUNKING (RFC 3030) sends the message with BDAT instead of DATA: a reply to BDAT is a reply to the content.
  ['DATA', /^(?:end of )?(?:data|bdat)\b|^\.$/i],
  ['RCPT', /^rcpt(?:\b|_)/i],
  ['MAIL', /^mail(?:\b|_)/i],
  ['EHLO', /^(?:ehlo|helo|lhlo)\b/i],
  ['CONN', /^(?:conn(?:ect)?\b|initial|greeting|banner)/i],
];

/** The command a verb names ('RCPT TO', 'end of DATA', …), or undefined. */
export function verbOf(text: string): SmtpCommand | undefined {
  const t = text.trim();
  return VERBS.find(([, pattern]) => pattern.test(t))?.[0];
}

const IN_REPLY_TO = /in reply to ((?:end of )?[a-z]+(?: (?:to|from))?) command/i;
const EXIM_AFTER =
  /\bafter (?:pipelined )?((?:end of )?data|bdat\b|rcpt\b|mail\b|initial connection|ehlo\b|helo\b|sending (?:data|mail from|rcpt))/i;
// Postfix's words for a server that refused the connection at its greeting: "host … refused to talk to me: 421 …".
const GREETING = /\brefused to talk to me\b/i;
// qmail-remote names the stage in words: "Connected to … but greeting failed." / "… but my name was rejected." /
// "… but sender was rejected.", "… does not like recipient.", "Failed on DATA command." / "Failed after I sent the
// message." The DragonFly Mail Agent writes "host [ip] did not like our RCPT TO:" (MAIL FROM, DATA, final DATA).
const QMAIL: ReadonlyArray<readonly [SmtpCommand, RegExp]> = [
  ['CONN', /\bbut greeting failed\b/i],
  ['EHLO', /\bbut my name was rejected\b/i],
  ['MAIL', /\bbut sender was rejected\b/i],
  ['RCPT', /\bdoes not like recipient\b/i],
  ['DATA', /\bfailed on DATA command\b|\bfailed after I sent the message\b/i],
];
const DMA = /\bdid not like our (?:final )?(RCPT TO|MAIL FROM|DATA|BDAT|EHLO|HELO)\b/i;
const MFILTER = /SMTP command\s*[:\n]\s*-*\s*([A-Z]{4})\b/;
const YAHOO_TAG = /\[(RCPT_TO|MAIL_FROM|DATA)\]/;
// Pipelining: the RCPT TO replies arrive after DATA was sent. The server then refuses DATA for want of a recipient,
// or Sendmail's own line after the reply names a recipient status (5.1.x): the reply answered RCPT TO.
const PIPELINED_RCPT =
  /need rcpt|need recipient|no valid recipients|rcpt commands were rejected|valid rcpt command must precede|no recipients/i;

/**
 * The command the reply in `text` answered, or undefined. `about`, when given, is the reply itself (e.g. "550 Unknown
 * user") or the recipient's address: in a transcript, the reply line that contains it is the one asked about (else
 * the first failure reply), and its command is the last ">>> VERB" before it, except that a pipelining client
 * writes ">>> DATA" before the RCPT replies, which its "Need RCPT" answer to DATA then gives away.
 */
export function smtpCommandIn(text: string, about?: string): SmtpCommand | undefined {
  const postfix = IN_REPLY_TO.exec(text.includes('\n') ? text.replace(/\s+/g, ' ') : text)?.[1];
  if (postfix) return verbOf(postfix);
  const exim = EXIM_AFTER.exec(text)?.[1];
  if (exim) return verbOf(exim.replace(/^sending /i, ''));
  if (GREETING.test(text)) return 'CONN';
  const qmail = QMAIL.find(([, pattern]) => pattern.test(text))?.[0];
  if (qmail) return qmail;
  const dma = DMA.exec(text)?.[1];
  if (dma) return verbOf(dma);
  const mfilter = MFILTER.exec(text)?.[1] ?? YAHOO_TAG.exec(text)?.[1];
  if (mfilter) return verbOf(mfilter);
  return text.includes('>>>') ? inTranscript(text, about?.trim().slice(0, 40).toLowerCase()) : undefined;
}

function inTranscript(text: string, probe: string | undefined): SmtpCommand | undefined {
  const lines = text.split('\n');
  const replies = lines.flatMap((l, i) => (/^[ \t>]*(?:<<<)?[ \t]*[45]\d\d\b/.test(l) ? [i] : []));
  const at =
    (probe ? replies.find((i) => lines[i]!.toLowerCase().includes(probe)) : undefined) ??
    (probe && !probe.includes('@') ? undefined : replies.find((i) => /<<</.test(lines[i]!)));
  if (at === undefined) return undefined;
  let sent: string | undefined;
  for (let i = at - 1; i >= 0 && sent === undefined; i--) sent = /^[ \t>]*>>> ?(.+)$/.exec(lines[i]!)?.[1];
  const verb = sent === undefined ? undefined : verbOf(sent);
  if (verb !== 'DATA') return verb;
  const after = lines.slice(at + 1, at + 5).join('\n');
  if (PIPELINED_RCPT.test(after) || /^[ \t>]*[45]\d\d [45]\.1\.\d/.test(lines[at + 1] ?? '')) return 'RCPT';
  return verb;
}
