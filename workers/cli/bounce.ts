// `campaign bounce classify FILE|DIR|- [--json]`: reads bounce mails and prints what each says; no queue, no database.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { readBounce } from '../../shared/bounce';
import { UserError } from './context';

/** One mail as the command prints it (docs/CONTRACT.md). */
export interface ClassifiedMail {
  file: string;
  kind: string;
  recipients: {
    email: string | null;
    messageId: string | null;
    type: string | null;
    reason: string | null;
    smtpCode: number | null;
    enhancedStatus: string | null;
    diagnostic: string | null;
  }[];
}

/** Reads one mail into the command's row: the code path the bench scores. */
export function classifyMail(file: string, raw: string | Buffer): ClassifiedMail {
  const report = readBounce(raw);
  return {
    file,
    kind: report.kind,
    recipients: report.recipients.map((r) => ({
      email: r.email,
      messageId: r.messageId,
      type: r.type,
      reason: r.reason,
      smtpCode: r.smtpCode,
      enhancedStatus: r.enhancedStatus,
      diagnostic: r.diagnostic,
    })),
  };
}

/** The mail files a FILE|DIR argument names: a directory's regular files (sorted, not recursive). */
export async function mailFiles(target: string): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(target);
  } catch (error) {
    throw new UserError(`cannot read ${target}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (!info.isDirectory()) return [target];
  const entries = await readdir(target, { withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => path.join(target, e.name))
    .sort();
  if (files.length === 0) throw new UserError(`${target} holds no mail files`);
  return files;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function render(mail: ClassifiedMail): string {
  const lines = [`${mail.file}: ${mail.kind}`];
  for (const r of mail.recipients) {
    const code = [r.smtpCode, r.enhancedStatus].filter((v) => v !== null).join(' ');
    const verdict = r.type ? `${r.type}${r.reason ? ` (${r.reason})` : ''}` : 'delivered';
    lines.push(`  ${r.email ?? '(no address)'}: ${verdict}${code ? ` ${code}` : ''}`);
    if (r.messageId) lines.push(`    message ${r.messageId}`);
    if (r.diagnostic) lines.push(`    ${r.diagnostic.slice(0, 200)}`);
  }
  return lines.join('\n');
}

export function registerBounceCommands(program: Command): void {
  const bounce = program.command('bounce').description('Read bounce mail without changing anything.');
  bounce
    .command('classify')
    .description(
      "Read bounce mails (DSN, plain-text vendor bounces, ARF complaints, auto-replies) and print, per mail, its kind and each recipient's type, reason and the server's reply. Changes nothing: no queue, no database.",
    )
    .argument('<target>', 'a mail file, a directory of mail files, or - for standard input')
    .option(
      '--json',
      'one JSON object a line: {file, kind, recipients: [{email, messageId, type, reason, smtpCode, enhancedStatus, diagnostic}]}',
    )
    .action(async (target: string, opts: { json?: boolean }) => {
      const files = target === '-' ? ['-'] : await mailFiles(target);
      for (const file of files) {
        const raw = file === '-' ? await readStdin() : await readFile(file);
        if (raw.length === 0) throw new UserError(`${file === '-' ? 'standard input' : file} is empty`);
        const mail = classifyMail(file, raw);
        process.stdout.write(opts.json ? `${JSON.stringify(mail)}\n` : `${render(mail)}\n`);
      }
    });
}
