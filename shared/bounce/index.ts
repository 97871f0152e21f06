// The bounce reader: raw mail → what it reports (bounce, complaint, auto-reply, delivered) per recipient. Pure.

import { createHash } from 'node:crypto';
import { lookup } from '../lookup';
import { smtpCommandIn } from '../rules/smtp-command';
import { autoReplyByHeaders, autoReplyByText, embedded, readComplaint } from './answers';
import { classifyEvidence, type Evidence, evidenceOf } from './evidence';
import {
  envelopeIdOf,
  firstAddress,
  HEADER_ADDRESS,
  isoTime,
  messageIdOf,
  referencedIdOf,
  verpOf,
} from './ids';
import { bodyText, header, type MimePart, normalizeLines, parseEntity, walk } from './mime';
import { categoryReason, listNoticeIn, noticeReasonIn } from './notices';
import { isOriginal, isStatus, proseOf } from './prose';
import { readDeliveryStatus } from './report';
import { readSesNotification } from './ses';
import { linesAbout, reasonAbove, recipientsIn, replyIn, splitOriginal, type TextRecipient } from './text';
import type { BounceRecipient, BounceReport, ReadOptions, RecipientAction } from './types';

export type { BounceKind, BounceRecipient, BounceReport, ReadOptions } from './types';

function recipient(
  email: string | null,
  action: RecipientAction,
  evidence: Evidence,
  messageId: string | null,
  occurredAt: string | null,
): BounceRecipient {
  let type: BounceRecipient['type'] = null;
  let reason: BounceRecipient['reason'] = null;
  if (action === 'complaint') [type, reason] = ['complaint', 'on denylist'];
  else if (action !== 'delivered') ({ type, reason } = classifyEvidence(evidence));
  const { noticeReason: _, ...shown } = evidence;
  return { email, messageId, type, reason, ...shown, action, occurredAt };
}

const ACTIONS: Record<string, RecipientAction | undefined> = {
  failed: 'failed',
  failure: 'failed',
  expired: 'failed', // some MTAs write it for "gave up retrying" (not an RFC 3464 value)
  delayed: 'delayed',
  delivered: 'delivered',
  relayed: 'delivered',
  expanded: 'delivered',
};

/** Reads one mail. `options.receivedAt` is the last fallback of each event time. */
export function readBounce(raw: string | Buffer, options: ReadOptions = {}): BounceReport {
  return readText(normalizeLines(raw), options, 0);
}

function readText(text: string, options: ReadOptions, depth: number): BounceReport {
  const mail = parseEntity(text);
  const parts = walk(mail);
  const reportId = reportIdOf(mail, text);
  const reportTime = isoTime(header(mail, 'date')) ?? options.receivedAt?.toISOString() ?? null;
  const originalPart = parts.find(isOriginal);
  const original = originalPart ? embedded(originalPart) : null;
  const verp = verpOf(mail, options.envelopeTo);
  const ours = (part: MimePart | null) => (part && messageIdOf(part)) ?? verp;

  const complaint = readComplaint(mail, parts);
  if (complaint) {
    const messageId = ours(complaint.original);
    const when = isoTime(complaint.arrivalDate) ?? reportTime;
    const evidence = {
      smtpCode: null,
      enhancedStatus: null,
      diagnostic: `complaint: ${complaint.feedbackType}`,
    };
    const recipients = (complaint.recipients.length > 0 ? complaint.recipients : [null]).map((email) =>
      recipient(email, 'complaint', evidence, messageId, when),
    );
    return { kind: 'complaint', format: 'arf', recipients, reportId };
  }
  const prose = proseOf(mail);
  const ses = prose.includes('Type"') ? readSesNotification(prose) : null;
  if (ses && ses.recipients.length > 0) {
    const messageId = messageIdOf({ headers: ses.headers }) ?? verp;
    const recipients = ses.recipients.map((r) =>
      recipient(
        r.email,
        r.action,
        evidenceOf(r.status, r.diagnostic),
        messageId,
        isoTime(r.at) ?? reportTime,
      ),
    );
    const kind =
      ses.recipients[0]!.action === 'complaint'
        ? 'complaint'
        : recipients.every((r) => r.action === 'delivered')
          ? 'delivered'
          : 'bounce';
    return { kind, format: 'ses', recipients, reportId };
  }
  const status = parts.find(isStatus);
  // Postfix marks its bounces Auto-Submitted: auto-replied too: the header counts only on a mail that is no report.
  if (!status && autoReplyByHeaders(mail) && !fromDaemon(mail))
    return autoReply(mail, prose, reportId, verp, reportTime);

  if (status) {
    const report = readDeliveryStatus(bodyText(status));
    if (report.recipients.length > 0) {
      // The returned headers first, then the ENVID the dispatch gave (it survives RET=HDRS being ignored), then VERP.
      const inHeaders = (part: MimePart | null) => (part && messageIdOf(part)) || null;
      const messageId =
        inHeaders(original) ?? inHeaders(originalIn(prose)) ?? envelopeIdOf(report.envelopeId) ?? verp;
      const recipients = report.recipients.map((r) => {
        const action = lookup(ACTIONS, r.action) ?? (r.status.startsWith('2') ? 'delivered' : 'failed');
        const diagnostic = r.diagnostic || fromProse(prose, r.email);
        const when = isoTime(r.lastAttempt) ?? reportTime;
        const command = smtpCommandIn(diagnostic, r.email) ?? smtpCommandIn(prose, r.email) ?? null;
        const evidence = evidenceOf(r.status, diagnostic, command);
        const category = categoryReason(r.category);
        if (category && !evidence.noticeReason) evidence.noticeReason = category;
        return recipient(r.email || null, action, evidence, messageId, when);
      });
      const kind = recipients.every((r) => r.action === 'delivered') ? 'delivered' : 'bounce';
      return { kind, format: 'rfc3464', recipients, reportId };
    }
  }
  // A bounce forwarded as an attachment (a relay or a person passing it on): the report is the attached one.
  if (!status && originalPart && depth < 2 && walk(original!).some(isStatus)) {
    const inner = readText(bodyText(originalPart).replace(/^\s*\n/, ''), options, depth + 1);
    if (inner.recipients.length > 0) return { ...inner, reportId };
  }
  // A bounce forwarded inline, each line quoted with "> " (Apple Mail's "Begin forwarded message:", …).
  const quoted = !status && depth < 2 ? quotedMail(prose) : null;
  if (quoted) {
    const inner = readText(quoted, options, depth + 1);
    if (inner.kind !== 'not-a-bounce' && inner.kind !== 'auto-reply') return { ...inner, reportId };
  }
  const list = listNoticeIn(mail, prose);
  if (list) {
    const evidence: Evidence = {
      smtpCode: null,
      enhancedStatus: null,
      diagnostic: list.diagnostic || null,
      noticeReason: list.reason,
    };
    const messageId = referencedIdOf(mail) ?? verp;
    return {
      kind: 'bounce',
      format: 'text',
      recipients: [recipient(list.email, 'failed', evidence, messageId, reportTime)],
      reportId,
    };
  }
  return readProse(mail, prose, original, { reportId, reportTime, verp });
}

/** The mail quoted in the prose with "> " (its header lines first), unquoted one level; null when none. */
function quotedMail(prose: string): string | null {
  const start = /^> ?(?:From|Date|Subject|To|Return-Path|Received):/m.exec(prose);
  if (!start) return null;
  const lines: string[] = [];
  for (const line of prose.slice(start.index).split('\n')) {
    if (!line.startsWith('>')) break;
    lines.push(line.replace(/^> ?/, ''));
  }
  return lines.length >= 5 ? `${lines.join('\n')}\n` : null;
}

function fromProse(prose: string, email: string): string {
  const { report } = splitOriginal(prose);
  const found = recipientsIn(report, new Set()).find((r) => r.email === email);
  if (found) return replyIn(found.block).text;
  // A recipient the prose lists in no list shape (a postmaster@ address, Exim's "save to /path" or "pipe to
  // |program"): the line naming it and the lines indented below it.
  return email ? replyIn(linesAbout(report, email)).text : '';
}

function originalIn(prose: string): MimePart | null {
  const { original } = splitOriginal(prose);
  return original.trim() ? parseEntity(original, 5) : null;
}

function readProse(
  mail: MimePart,
  prose: string,
  originalPart: MimePart | null,
  at: { reportId: string; reportTime: string | null; verp: string | null },
): BounceReport {
  const { report, original: originalText } = splitOriginal(prose);
  const original = originalPart ?? (originalText.trim() ? parseEntity(originalText, 5) : null);
  const messageId = (original && messageIdOf(original)) ?? at.verp;
  const exclude = new Set(
    ['from', 'to', 'return-path', 'delivered-to', 'x-original-to', 'reply-to', 'sender']
      .flatMap((name) => mail.headers.get(name) ?? [])
      .concat(original ? (original.headers.get('from') ?? []) : [])
      .flatMap((v) => v.toLowerCase().match(HEADER_ADDRESS) ?? []),
  );
  const failedHeader = header(mail, 'x-failed-recipients');
  let found: (TextRecipient & { status?: string })[] = recipientsIn(report, exclude);
  // The report's fields printed as text (Sun/Oracle Messaging Server, gateways that lost the part's type): they
  // name the failed recipients exactly, where the prose also quotes the returned message's To: and Message-ID.
  const fieldsAt = /^[ \t]*(?:reporting-mta|original-envelope-id|final-recipient)[ \t]*:/im.exec(prose);
  const fields = fieldsAt ? readDeliveryStatus(prose.slice(fieldsAt.index)).recipients : [];
  if (fields.length > 0 && fields.every((r) => r.email.includes('@')))
    found = fields.map((r) => ({ email: r.email, block: r.diagnostic || report, status: r.status }));
  // A sender who wrote to themselves (a test, a list) is the failed recipient too.
  if (found.length === 0) found = recipientsIn(report, new Set());
  if (failedHeader) {
    const listed = failedHeader
      .toLowerCase()
      .split(/[\s,]+/)
      .filter(Boolean);
    found = listed.map((email) => found.find((r) => r.email === email) ?? { email, block: report });
  }
  if (found.length === 0 && original && looksLikeBounce(mail, report)) {
    const to = firstAddress(header(original, 'to'));
    if (to) found = [{ email: to, block: report }];
  }
  // A failure reply with no address at all (some gateways): the recipient is unknown, the message may not be.
  if (found.length === 0 && looksLikeBounce(mail, report) && /^[ \t]*[45]\d\d\b/m.test(report))
    found = [{ email: '', block: report }];
  if (found.length === 0 || !looksLikeBounce(mail, report)) {
    if (autoReplyByText(prose)) return autoReply(mail, prose, at.reportId, at.verp, at.reportTime);
    return {
      kind: 'not-a-bounce',
      format: 'none',
      recipients: [],
      reportId: at.reportId,
      why: 'no failed recipient found',
    };
  }
  const delayed =
    /\b(?:will (?:continue|keep) (?:to )?(?:try|retry)|warning message only|not yet been delivered|delivery (?:is )?delayed|still trying)\b/i.test(
      report,
    );
  const recipients = found.map(({ email, block, status }) => {
    let reply = replyIn(block);
    if (!reply.found && found.length === 1) {
      const whole = replyIn(report);
      if (whole.found) reply = whole;
    }
    // Lotus Notes lists addresses under their reason line ("Failure Reasons"): an address alone takes it.
    if (!reply.found && email && block.replace(/[<>\s]/g, '').toLowerCase() === email) {
      const heading = reasonAbove(report, email);
      if (heading) reply = { text: `${heading} ${block}`, found: false };
    }
    const command =
      smtpCommandIn(block, email) ?? (found.length === 1 ? smtpCommandIn(report, email) : undefined) ?? null;
    const evidence = evidenceOf(status || reply.status, reply.text, command);
    if (evidence.smtpCode === null && !evidence.enhancedStatus)
      evidence.noticeReason = noticeReasonIn(report);
    return recipient(email || null, delayed ? 'delayed' : 'failed', evidence, messageId, at.reportTime);
  });
  return { kind: 'bounce', format: 'text', recipients, reportId: at.reportId };
}

const BOUNCE_SUBJECT =
  /undeliver|undelivered|deliver(?:y|ed)? (?:status|fail|failure|problem|report|notification)|not (?:be )?delivered|fail(?:ure|ed)|returned|rejected|bounce|could not be delivered|nondeliverable|non-?delivery|mail delivery|delivery has failed|error|problem|warning|zustellung|unzustellbar|non remis|no entregado|配信|エラー|返送/i;
const BOUNCE_SENDER =
  /mailer-daemon|post_?master|mail delivery|maildelivery|daemon|bounce|notification|no-?reply/i;

function fromDaemon(mail: MimePart): boolean {
  return BOUNCE_SENDER.test(header(mail, 'from')) || BOUNCE_SUBJECT_STRICT.test(header(mail, 'subject'));
}

const BOUNCE_SUBJECT_STRICT =
  /undeliver|delivery (?:status|fail|failure|notification)|returned mail|failure notice|mail delivery failed|non-?delivery|nondeliverable/i;

function looksLikeBounce(mail: MimePart, report: string): boolean {
  if (BOUNCE_SUBJECT.test(header(mail, 'subject')) || BOUNCE_SENDER.test(header(mail, 'from'))) return true;
  if (header(mail, 'x-failed-recipients')) return true;
  return /\b[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3}\b/.test(report);
}

function autoReply(
  mail: MimePart,
  prose: string,
  reportId: string,
  verp: string | null,
  when: string | null,
): BounceReport {
  const from = firstAddress(header(mail, 'from'));
  const subject = header(mail, 'subject').replace(/\s+/g, ' ').slice(0, 200);
  // The diagnostic names it an auto-reply, so that the classifier says out of office wherever it runs.
  const evidence = {
    smtpCode: null,
    enhancedStatus: null,
    diagnostic: `auto-reply: ${subject || prose.trim().slice(0, 200)}`,
  };
  const recipients = [recipient(from, 'auto-reply', evidence, verp, when)];
  return { kind: 'auto-reply', format: 'auto-reply', recipients, reportId };
}

function reportIdOf(mail: MimePart, text: string): string {
  const id = header(mail, 'message-id') || text;
  return createHash('sha1').update(id).digest('hex').slice(0, 24);
}
