// A recipient's evidence: the receiving server's own reply, its code and enhanced status, preferred over a vague Status:.
import { lookup } from '../lookup';
import { classifySmtp, type FailureReason, parseSmtpResponse, type SmtpFailure } from '../rules/classify';
import { reasonInText } from '../rules/failure-text';

/** What one recipient's failure is known by, as the reader hands it to the classifier. */
export interface Evidence {
  smtpCode: number | null;
  enhancedStatus: string | null;
  diagnostic: string | null;
  /** The SMTP command the reply answered, where the mail says it (classification only; not printed). */
  command?: string | null;
  /** The reason a notice's own form gives (notices.ts), where it quotes no SMTP reply (classification only). */
  noticeReason?: FailureReason;
}

// `smtp;`, `X-Postfix;`, `X-Unix;`, `X-Notes;`, … (RFC 3464 diagnostic-type), sometimes written twice.
const DIAGNOSTIC_TYPE = /^\s*(?:(?:smtp|x-[\w.-]+|unix|dns)\s*;\s*)+/i;
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** The diagnostic without its diagnostic-type prefix, whitespace squeezed, capped. */
export function cleanDiagnostic(text: string): string {
  return text.replace(DIAGNOSTIC_TYPE, '').replace(/\s+/g, ' ').trim().slice(0, 1000);
}

const vague = (status: string | undefined) => !status || /^\d\.0\.0$/.test(status);

/**
 * The evidence of one recipient. The code and enhanced status the server's reply quotes win over the
 * report's Status: field (which MTAs often fill with 5.0.0, or 5.1.1 over a "5.7.1 blocked" reply), except
 * where the reply's own status is vague (x.0.0) and the report's is not.
 */
export function evidenceOf(
  reportStatus: string | undefined,
  diagnosticText: string,
  command: string | null = null,
): Evidence {
  const diagnostic = cleanDiagnostic(diagnosticText);
  const program = X_UNIX.test(diagnosticText) ? programReason(diagnostic) : undefined;
  const reply: SmtpFailure = diagnostic ? parseSmtpResponse(diagnostic) : {};
  const status = reportStatus && STATUS.test(reportStatus) ? reportStatus : undefined;
  let enhanced = reply.enhancedStatus;
  if (vague(enhanced) && !vague(status)) enhanced = status;
  enhanced ??= status;
  let smtpCode = reply.smtpCode ?? null;
  // A reply code whose class contradicts the status it quotes is a misread number, not the reply.
  if (smtpCode !== null && enhanced && String(smtpCode)[0] !== enhanced[0] && reply.enhancedStatus)
    smtpCode = null;
  const evidence: Evidence = {
    smtpCode,
    enhancedStatus: enhanced ?? null,
    diagnostic: diagnostic || null,
    command,
  };
  if (program) evidence.noticeReason = program;
  return evidence;
}

// RFC 3464's diagnostic type of a local delivery program (a pipe, procmail, a mailbox writer): its words or its exit
// status, never a remote server's reply.
const X_UNIX = /^\s*x-unix\s*;/i;
// sysexits.h, which Sendmail and Postfix report for a program: 67 "addressee unknown", 68 "host name unknown".
// Every other status (70 software, 71 OS error, 75 temporary, 77 permission, 255, …), and any words but a full
// mailbox's, is the destination system's own trouble.
const EXIT_STATUS: Readonly<Record<string, FailureReason>> = {
  '67': 'user unknown',
  '68': 'invalid domain',
};

function programReason(text: string): FailureReason | undefined {
  if (/^\d{1,3}$/.test(text)) return lookup(EXIT_STATUS, text) ?? 'unreachable';
  return reasonInText(text) === 'mailbox full' ? undefined : 'unreachable';
}

/** Classifies the evidence exactly as the feedback worker will (the same fields, the same function). */
export function classifyEvidence(evidence: Evidence) {
  return classifySmtp({
    smtpCode: evidence.smtpCode ?? undefined,
    enhancedStatus: evidence.enhancedStatus ?? undefined,
    diagnostic: evidence.diagnostic ?? undefined,
    command: evidence.command ?? undefined,
    reason: evidence.noticeReason,
  });
}
