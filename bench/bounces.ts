// `npm run bench -- bounces [DIR]`: scores a corpus of real bounce mails (default ../shared/corpora/sisimai) through
// `campaign bounce classify`'s code path against its expected.json, per recipient, and times the reader on one core.
//
// The corpus is read where it lies, never copied. expected.json lists each mail's recipients in the order the mail
// names them (see its README); each is compared with the recipient at the same place in our answer.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyMail } from '../workers/cli/bounce';

interface ExpectedRecipient {
  kind: string;
  type: string | null;
  reason: string | null;
  acceptedReasons: string[] | null;
}
interface ExpectedMail {
  file: string;
  format: string;
  recipients: ExpectedRecipient[];
}

const share = (n: number, d: number) => (d === 0 ? 1 : Math.round((n / d) * 10_000) / 10_000);

/** The default corpus: ../shared/corpora/sisimai beside the checkout. */
function defaultCorpus(): string {
  return path.resolve(__dirname, '..', '..', 'shared', 'corpora', 'sisimai');
}

export async function benchBounces(args: string[]): Promise<Record<string, unknown>> {
  const dir = path.resolve(args[0] ?? defaultCorpus());
  const expectedFile = path.join(dir, 'expected.json');
  if (!existsSync(expectedFile)) throw new Error(`${expectedFile} not found: name a corpus directory`);
  const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as ExpectedMail[];
  const mails = expected.map((m) => ({ ...m, raw: readFileSync(path.join(dir, m.file)) }));

  const tally = { recipients: 0, scored: 0, typeRight: 0, reasonRight: 0, softCalledHard: 0 };
  const complaints = { expected: 0, found: 0 };
  let parsed = 0;
  const byFormat: Record<
    string,
    { mails: number; parsed: number; scored: number; type: number; reason: number }
  > = {};
  const misses: string[] = [];
  for (const mail of mails) {
    const got = classifyMail(mail.file, mail.raw);
    byFormat[mail.format] ??= { mails: 0, parsed: 0, scored: 0, type: 0, reason: 0 };
    const f = byFormat[mail.format]!;
    f.mails++;
    if (got.recipients.length > 0 && got.kind !== 'not-a-bounce') {
      parsed++;
      f.parsed++;
    }
    mail.recipients.forEach((want, i) => {
      const ours = got.recipients[i];
      tally.recipients++;
      if (want.type === 'complaint') {
        complaints.expected++;
        if (ours?.type === 'complaint') complaints.found++;
      }
      // Sisimai could not tell (reason null) or the mail reports a success: no type to score.
      if (want.type === null || want.acceptedReasons === null) return;
      tally.scored++;
      f.scored++;
      const typeRight = ours?.type === want.type;
      const reasonRight = ours?.reason != null && want.acceptedReasons.includes(ours.reason);
      if (typeRight) {
        tally.typeRight++;
        f.type++;
      }
      if (reasonRight) {
        tally.reasonRight++;
        f.reason++;
      }
      if ((want.type === 'soft' || want.type === 'ignored') && ours?.type === 'hard') tally.softCalledHard++;
      if (!typeRight || !reasonRight)
        misses.push(
          `${mail.file}#${i}: want ${want.type}/${want.acceptedReasons.join('|')} got ${ours?.type ?? '-'}/${ours?.reason ?? '-'} ${ours?.enhancedStatus ?? ''} ${(ours?.diagnostic ?? '').slice(0, 100)}`,
        );
    });
  }

  // Throughput: the whole corpus read again and again on this one thread for about three seconds. Rated by the
  // CPU time this process spent (one core), so that other work on a shared machine does not lower the figure;
  // the wall-clock rate is given beside it.
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let done = 0;
  while (process.hrtime.bigint() - started < 3_000_000_000n) {
    for (const mail of mails) classifyMail(mail.file, mail.raw);
    done += mails.length;
  }
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const seconds = (used.user + used.system) / 1e6;

  if (process.env.BENCH_VERBOSE) for (const line of misses) console.error(line);
  return {
    corpus: dir,
    mails: mails.length,
    recipients: tally.recipients,
    scoredRecipients: tally.scored,
    parsedShare: share(parsed, mails.length),
    typeShare: share(tally.typeRight, tally.scored),
    reasonShare: share(tally.reasonRight, tally.scored),
    softCalledHard: tally.softCalledHard,
    softCalledHardShare: share(tally.softCalledHard, tally.scored),
    complaintsExpected: complaints.expected,
    complaintsFound: complaints.found,
    mailsPerSecond: Math.round(done / seconds),
    mailsPerWallSecond: Math.round(done / wallSeconds),
    cores: os.cpus().length,
    byFormat: Object.fromEntries(
      Object.entries(byFormat)
        .sort()
        .map(([name, v]) => [
          name,
          {
            mails: v.mails,
            parsed: v.parsed,
            type: `${v.type}/${v.scored}`,
            reason: `${v.reason}/${v.scored}`,
          },
        ]),
    ),
  };
}
