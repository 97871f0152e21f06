// Plain-text bounces (qmail, Exim, Sendmail, Postfix, Exchange, Gmail, Yahoo, …): recipients and their replies out of the prose.
//
// The rules follow the shapes the formats share, not any one product: the report ends where the returned
// message begins (a "copy of the message follows" line, or a header block); each failed address is named in
// the report; the server's reply is a line carrying an SMTP code or an enhanced status near that address.

/** One recipient found in the prose, with the text that speaks of it. */
export interface TextRecipient {
  email: string;
  block: string;
}

// Phrases of the line that introduces the returned message, in the words the MTAs use.
const ORIGINAL_PHRASE =
  /copy of (?:the |your )?(?:original )?(?:message|mail)|(?:original|returned|rejected|undelivered|unsent|unsendable|bounced) (?:message|mail|e-?mail)(?: text)?(?: headers?)? ?(?:follows|below|is attached|attached|:|[-=_*#]{2,}|$)|message headers? follows?|headers? of (?:the |your )?(?:original )?(?:message|mail)|text of (?:the |your )?(?:original )?message|^[ \t]*content-type: message\/rfc822|^[ \t]*[-=_*#]{2,} ?original message ?[-=_*#]{2,}/i;
// A header block of the returned message (a Received: or Return-Path: followed by more header lines).
const HEADER_BLOCK =
  /^(?:Return-Path|Received|Message-ID|X-Campaign-Message-Id|DKIM-Signature):[^\n]*\n(?:[ \t][^\n]*\n)*[A-Za-z-]+:/im;

function markerLine(text: string): number | null {
  let at = 0;
  for (const line of text.split('\n')) {
    if (line.length <= 120 && ORIGINAL_PHRASE.test(line)) return at;
    at += line.length + 1;
  }
  return null;
}

/** Splits the report's prose from the returned message that follows it. */
export function splitOriginal(text: string): { report: string; original: string } {
  const marker = markerLine(text);
  const block = HEADER_BLOCK.exec(text);
  const at = Math.min(marker ?? text.length, block?.index ?? text.length);
  const lineEnd = marker === at ? text.indexOf('\n', at) : at;
  const original = text.slice(lineEnd < 0 ? text.length : lineEnd + 1).replace(/^(?:[ \t]*\n)+/, '');
  return { report: text.slice(0, at), original };
}

// Bounded and anchored at a token's start, so that a hostile long token is one pass, not one per character.
const ADDRESS =
  /(?<![A-Za-z0-9._%+=!#$&'*/?^`{|}~-])[A-Za-z0-9._%+=!#$&'*/?^`{|}~-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,10}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;
// Addresses that are never the failed recipient: the reporting side's own mailboxes.
const SYSTEM_LOCAL =
  /^(?:mailer-daemon|postmaster|mail-daemon|maildelivery|mail_delivery|noreply|no-reply|bounces?|daemon|root)$/i;

const SENDER_LINE = /^[ \t>]*(?:from|reply-to|sender|return-path|references|in-reply-to|cc)[ \t]*:/i;

/** The failed addresses in the report's prose, in order, without `exclude` and the reporting side's own mailboxes. */
export function recipientsIn(report: string, exclude: Set<string>): TextRecipient[] {
  const found = new Map<string, number>();
  for (const match of report.matchAll(ADDRESS)) {
    const email = match[0].replace(/^[.'`]+|[.'`]+$/g, '').toLowerCase();
    const local = email.slice(0, email.indexOf('@'));
    if (exclude.has(email) || SYSTEM_LOCAL.test(local) || found.has(email)) continue;
    // An address inside a message id or a URL is not a recipient.
    const before = report.slice(Math.max(0, match.index - 16), match.index);
    if (/(?:message-id:\s*<?|mailto:|https?:\/\/\S*)$/i.test(before)) continue;
    // Nor is a helpdesk the report asks you to write to ("please contact <support@…>").
    if (/\b(?:contact|write to|e-?mail us at|reach us at)\s*<?$/i.test(before)) continue;
    // Nor is one on a quoted From:, Reply-To: or Sender: line (the returned message's summary).
    const lineStart = report.lastIndexOf('\n', match.index) + 1;
    if (SENDER_LINE.test(report.slice(lineStart, match.index))) continue;
    found.set(email, match.index);
  }
  // Where some addresses open their line ("<a@b>:", "a@b on …", "  a@b"), as failed recipients do in every
  // list-shaped report, an address inside a sentence is prose (a helpdesk, the sender) and is left out.
  const all = [...found.entries()];
  const leading = all.filter(([, index]) =>
    /^[ \t>]*["<(]?$/.test(report.slice(report.lastIndexOf('\n', index) + 1, index)),
  );
  const starts = leading.length > 0 ? leading : all;
  return starts.map(([email, index], i) => {
    const lineStart = report.lastIndexOf('\n', index) + 1;
    const next = starts[i + 1];
    const end = next ? report.lastIndexOf('\n', next[1]) + 1 : report.length;
    const own = report.slice(lineStart, Math.max(end, report.indexOf('\n', index) + 1 || report.length));
    // The reply about an address may come later (a transcript section): gather every line naming it.
    const later = linesNaming(report.slice(end), email);
    return { email, block: `${own}\n${later}`.trim() };
  });
}

function linesNaming(text: string, email: string): string {
  const out: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.toLowerCase().includes(email)) return;
    out.push(line);
    for (let j = i + 1; j < lines.length && /^[ \t]+\S/.test(lines[j]!); j++) out.push(lines[j]!);
  });
  return out.join('\n');
}

// A reply: a 4xx/5xx code opening a line or following "said:", "error:", a colon…; or an enhanced status.
const REPLY_LINE =
  /(?:^|[\s:(>"'\]]|said:?|error:?|reason:?|response:?)[ \t]*(?:smtp;\s*)?([45]\d\d)(?:[ \t-]+#?([45]\.\d{1,3}\.\d{1,3}))?(?![\d.])[ \t-]*([^\n]*)/im;
// Report fields that end a reply quoted in prose (some MTAs print the DSN fields as text).
const DSN_FIELD =
  /^\s*(?:remote-mta|status|action|final-recipient|original-recipient|diagnostic-code|reporting-mta|last-attempt-date|arrival-date|received-from-mta)\s*:/i;
const NEW_REPLY = /^\s*(?:<<<\s*)?[2-5]\d\d[ \t]/;
const STATUS_ONLY = /(?<![\w.])#?([45]\.\d{1,3}\.\d{1,3})(?![\w.])/;

/** The server's reply within a block: from its code to the end of its paragraph; else the block's prose. */
export function replyIn(block: string): { text: string; status?: string; found: boolean } {
  const lines = block.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = REPLY_LINE.exec(lines[i]!);
    if (!m || !plausibleReply(lines[i]!, m)) continue;
    const start = lines[i]!.indexOf(m[1]!, m.index);
    const parts = [lines[i]!.slice(start)];
    for (let j = i + 1; j < lines.length && j < i + 6; j++) {
      const next = lines[j]!;
      if (next.trim() === '' || /^\S+@\S+:?\s*$/.test(next.trim()) || DSN_FIELD.test(next)) break;
      // A new reply line (not the next line of a multi-line "550-…" reply) is another reply, often another address's.
      if (NEW_REPLY.test(next) && !/^\s*(?:<<<\s*)?\d{3}-/.test(lines[j - 1]!)) break;
      parts.push(next.trim());
    }
    return { text: parts.join(' '), found: true };
  }
  const status = STATUS_ONLY.exec(block)?.[1];
  return { text: block, status, found: status !== undefined };
}

// "550" inside a date, a size or an IP is not a reply: the code must be followed by text or a status.
function plausibleReply(line: string, m: RegExpExecArray): boolean {
  if (m[2]) return true;
  const after = m[3] ?? '';
  return /^[A-Za-z<"'(#]/.test(after) && !/^\d/.test(after) && !/\d[:.]\s*$/.test(line.slice(0, m.index + 1));
}

/** The line above an address and the addresses listed with it, in the same paragraph: the reason heading a group of addresses (Lotus Notes), or null. */
export function reasonAbove(report: string, email: string): string | null {
  const lines = report.split('\n');
  let i = lines.findIndex((line) => line.toLowerCase().includes(email));
  while (--i >= 0) {
    const line = lines[i]!.trim();
    if (line === '' || /^[-=_*#\s]+$/.test(line) || /^[-=_*#]{3,}/.test(line)) return null;
    if (!/^<?[^\s@<>]+@[^\s@<>]+>?$/.test(line)) return line;
  }
  return null;
}
