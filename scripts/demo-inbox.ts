/**
 * The demo's inbox: stands in for PagerDuty, the chat webhook and the mail server on this machine,
 * so pages and one-time approval codes can be read in the terminal (and in $STACK_DIR/inbox.log).
 * Usage: node dist/scripts/demo-inbox.js <http-port> <smtp-port> <logfile>
 */
import { appendFileSync } from 'node:fs';
import Fastify from 'fastify';
import { SMTPServer } from 'smtp-server';

const [httpPort, smtpPort, logFile] = process.argv.slice(2);
if (!httpPort || !smtpPort || !logFile) {
  process.stderr.write('usage: demo-inbox <http-port> <smtp-port> <logfile>\n');
  process.exit(2);
}

const record = (channel: string, text: string) => {
  const line = `${new Date().toISOString()} [${channel}] ${text}\n`;
  appendFileSync(logFile, line);
  process.stdout.write(line);
};

const app = Fastify({ logger: false });
app.post('/*', async (req, reply) => {
  const body = req.body as Record<string, unknown>;
  const payload = body.payload as { summary?: string } | undefined;
  const text = typeof body.text === 'string' ? body.text : (payload?.summary ?? JSON.stringify(body));
  record(req.url.includes('enqueue') ? 'pagerduty' : 'chat', text);
  return reply.code(202).send({ status: 'success' });
});

const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  onData(stream, session, cb) {
    let data = '';
    stream.on('data', (c: Buffer) => (data += c.toString('latin1')));
    stream.on('end', () => {
      const [head, ...rest] = data.split(/\r?\n\r?\n/);
      const subject = /^Subject: (.*)$/m.exec(data)?.[1] ?? '(no subject)';
      let body = rest.join('\n').trim();
      // Long lines (approval instructions, the JSON to paste) come quoted-printable: decode them so
      // codes and JSON read as sent.
      if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
        body = Buffer.from(
          body
            .replace(/=\r?\n/g, '')
            .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8');
      }
      record(`email to ${session.envelope.rcptTo.map((r) => r.address).join(', ')}`, `${subject}\n${body}`);
      cb();
    });
  },
});

void app.listen({ host: '127.0.0.1', port: Number(httpPort) }).then(() => {
  smtp.listen(Number(smtpPort), '127.0.0.1');
  process.stdout.write(`demo inbox: http://127.0.0.1:${httpPort} smtp://127.0.0.1:${smtpPort}\n`);
});
