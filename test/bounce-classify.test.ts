// `campaign bounce classify`: reads bounce mails, prints one JSON object a line, touches no queue and no database.
import path from 'node:path';
import { cli } from './helpers/cli';

const FIXTURES = path.join(__dirname, 'fixtures', 'bounces');
// Nothing listens there: a command that opened a connection would fail.
const NO_SERVICES = { DATABASE_URL: 'postgres://127.0.0.1:9/none', REDIS_URL: 'redis://127.0.0.1:9' };

describe('campaign bounce classify', () => {
  test('a directory: one line per mail, sorted by file, with kind and recipients', async () => {
    const run = await cli(NO_SERVICES, 'bounce', 'classify', FIXTURES, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [path.basename(l.file), l.kind])).toEqual([
      ['arf-abuse.eml', 'complaint'],
      ['auto-reply.eml', 'auto-reply'],
      ['crlf-broken-boundary.eml', 'bounce'],
      ['delivered.eml', 'delivered'],
      ['dsn-action-first-no-blank-after-headers.eml', 'bounce'],
      ['dsn-no-blank-line.eml', 'bounce'],
      ['exim-blocked.eml', 'bounce'],
      ['forwarded-dsn.eml', 'bounce'],
      ['indented-boundary-helpdesk.eml', 'bounce'],
      ['not-a-bounce.eml', 'not-a-bounce'],
      ['qmail-text.eml', 'bounce'],
      ['sendmail-after-data.eml', 'bounce'],
      ['ses-complaint.eml', 'complaint'],
    ]);
    expect(lines.find((l) => l.file.endsWith('qmail-text.eml')).recipients).toEqual([
      {
        email: 'nobody@example.org',
        messageId: '2.5.42.abcdef@mail.sender.test',
        type: 'hard',
        reason: 'user unknown',
        smtpCode: 550,
        enhancedStatus: '5.1.1',
        diagnostic: expect.stringMatching(/^550 5\.1\.1 <nobody@example\.org>: no such user here/),
      },
    ]);
  });

  test('one file, readable text', async () => {
    const run = await cli(NO_SERVICES, 'bounce', 'classify', path.join(FIXTURES, 'exim-blocked.eml'));
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('listed@example.com: soft (spam rejection) 550 5.7.1');
  });

  test('a missing file: exit 1 and one line naming it', async () => {
    const run = await cli(NO_SERVICES, 'bounce', 'classify', path.join(FIXTURES, 'nope.eml'));
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/cannot read .*nope\.eml: ENOENT/)]);
  });

  test('--help describes it', async () => {
    const run = await cli(NO_SERVICES, 'bounce', 'classify', '--help');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Changes nothing/);
  });
});
