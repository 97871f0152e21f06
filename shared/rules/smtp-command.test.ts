// Unit tests for reading the SMTP command a failure answered, in each MTA's own way of writing it.
import { smtpCommandIn, verbOf } from './smtp-command';

describe('smtpCommandIn', () => {
  // biome-ignore format: one case per row reads as a table
  test.each([
    { proves: "Postfix's end of DATA", text: 'host mx.example[192.0.2.1] said: 550 5.1.1 User unknown (in reply to end of DATA command)', reply: undefined, command: 'DATA' },
    { proves: "Postfix's RCPT TO", text: '550 5.1.1 <a@b.example>: User unknown (in reply to RCPT TO command)', reply: undefined, command: 'RCPT' },
    { proves: "Exim's after end of data", text: 'SMTP error from remote mail server after end of data: 550 Unknown user', reply: undefined, command: 'DATA' },
    { proves: "Exim's after RCPT TO", text: 'SMTP error from remote mail server after RCPT TO:<a@b.example>: 550 5.1.1 unknown', reply: undefined, command: 'RCPT' },
    { proves: "m-FILTER's SMTP command block", text: '-------server message\n550 unknown user <a@b.example>\n-------SMTP command\nDATA\n', reply: undefined, command: 'DATA' },
    { proves: 'a Sendmail transcript: the last command before the reply', text: '... while talking to mx.b.example.:\n>>> DATA\n<<< 550 Unknown user a@b.example\n554 5.0.0 Service unavailable\n', reply: '550 Unknown user a@b.example', command: 'DATA' },
    { proves: "a pipelining transcript: DATA's 'Need RCPT' shows the reply answered RCPT", text: '>>> DATA\n<<< 550 5.1.1 <a@b.example>... User Unknown\n550 5.1.1 <a@b.example>... User unknown\n<<< 503 5.0.0 Need RCPT (recipient)\n', reply: '550 5.1.1 <a@b.example>... User Unknown', command: 'RCPT' },
    { proves: "Exim's after pipelined MAIL FROM", text: 'SMTP error from remote mail server after pipelined MAIL FROM:<n@x.example>: 553 sender rejected', reply: undefined, command: 'MAIL' },
    { proves: "Yahoo's [RCPT_TO] tag", text: '550 5.1.1 <a@b.example>... User Unknown [RCPT_TO]', reply: undefined, command: 'RCPT' },
    { proves: "Postfix's phrase broken over two lines", text: 'said: 550 Unknown user (in reply to end of\n    DATA command)', reply: undefined, command: 'DATA' },
    { proves: 'a transcript quoted with "> " (a forwarded bounce) is read the same', text: '> ... while talking to mx.b.example.:\n>>>> DATA\n> <<< 550 Unknown user a@b.example\n> 554 5.0.0 Service unavailable\n', reply: 'a@b.example', command: 'DATA' },
    { proves: 'the reply line naming the address picks the command among several', text: '>>> MAIL From:<n@x.example>\n<<< 250 ok\n>>> RCPT To:<a@b.example>\n<<< 550 5.1.1 <a@b.example> unknown\n', reply: 'a@b.example', command: 'RCPT' },
    { proves: "Postfix's 'refused to talk to me' is the greeting", text: 'connect to mx.b.example[192.0.2.1]: server refused to talk to me: 421 Service not available', reply: undefined, command: 'CONN' },
    { proves: "qmail's 'does not like recipient' is RCPT TO", text: '<a@b.example>:\n192.0.2.7 does not like recipient.\nRemote host said: 550 5.2.1 <a@b.example>... User Unknown\nGiving up on 192.0.2.7.', reply: undefined, command: 'RCPT' },
    { proves: "qmail's 'Failed after I sent the message' is the end of DATA", text: 'Connected to 192.0.2.7 but my message was refused.\nFailed after I sent the message.\nRemote host said: 554 content rejected', reply: undefined, command: 'DATA' },
    { proves: "qmail's 'but sender was rejected' is MAIL FROM", text: 'Connected to 192.0.2.7 but sender was rejected.\nRemote host said: 553 sorry, your domain does not exist', reply: undefined, command: 'MAIL' },
    { proves: "the DragonFly Mail Agent's 'did not like our RCPT TO' is RCPT TO", text: 'mx.b.example [192.0.2.7] did not like our RCPT TO:\n550 5.2.1 <a@b.example>: User unknown', reply: undefined, command: 'RCPT' },
    { proves: "the DragonFly Mail Agent's 'final DATA' is DATA", text: 'mx.b.example [192.0.2.7] did not like our final DATA:\n554 5.7.1 rejected', reply: undefined, command: 'DATA' },
    { proves: "CHUNKING: Postfix-style 'in reply to end of BDAT command' is the content's reply", text: '550 5.7.1 Message rejected (in reply to end of BDAT command)', reply: undefined, command: 'DATA' },
    { proves: 'CHUNKING: a transcript whose last command is BDAT … LAST is DATA', text: '>>> MAIL From:<n@x.example>\n<<< 250 ok\n>>> RCPT To:<a@b.example>\n<<< 250 ok\n>>> BDAT 2048 LAST\n<<< 554 5.7.1 content rejected\n', reply: '554 5.7.1 content rejected', command: 'DATA' },
    { proves: "CHUNKING: Exim's 'after BDAT' is DATA", text: 'SMTP error from remote mail server after BDAT 512 LAST: 550 Unknown user', reply: undefined, command: 'DATA' },
    { proves: 'nothing said: no command', text: '550 5.1.1 User unknown', reply: '550 5.1.1 User unknown', command: undefined },
    { proves: 'a reply not in the text: no command', text: '>>> DATA\n<<< 250 ok\n', reply: '550 gone', command: undefined },
  ])('$proves', ({ text, reply, command }) => {
    expect(smtpCommandIn(text, reply)).toBe(command);
  });

  test('verbOf names the command of a verb', () => {
    expect(
      ['RCPT TO', 'end of DATA', 'MAIL FROM', 'EHLO', 'DATA', 'QUIT', 'CONN', 'BDAT 1024 LAST'].map(verbOf),
    ).toEqual(['RCPT', 'DATA', 'MAIL', 'EHLO', 'DATA', undefined, 'CONN', 'DATA']);
  });
});
