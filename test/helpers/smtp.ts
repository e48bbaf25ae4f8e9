/** Test helper: a real SMTP server (the smtp-server library) and MIME reading for what it got. */
import { SMTPServer } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on 127.0.0.1 without TLS or authentication, recording what it accepts. */
export async function startSmtp(p: number, refuse?: number): Promise<{ got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(_addr, _session, cb) {
      if (refuse) cb(Object.assign(new Error('no such user here'), { responseCode: refuse }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const env = session.envelope;
        got.push({
          from: env.mailFrom ? env.mailFrom.address : '',
          to: env.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('latin1'),
        });
        cb();
      });
    },
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(p, '127.0.0.1', () => ok());
  });
  return { got, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

/** Header value (unfolded) of a MIME header block. */
export function header(block: string, name: string): string | undefined {
  const unfolded = block.replace(/\r\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(unfolded);
  return m?.[1];
}

/** The .wav attachment of a raw multipart message: its file name, type and decoded bytes. */
export function wavAttachment(raw: string): { filename: string; type: string; bytes: Buffer } {
  const split = raw.indexOf('\r\n\r\n');
  const top = raw.slice(0, split);
  const boundary = /boundary="?([^";\s]+)"?/i.exec(header(top, 'Content-Type') ?? '')?.[1];
  if (!boundary) throw new Error('not a multipart message');
  for (const part of raw.slice(split + 4).split(`--${boundary}`)) {
    const at = part.indexOf('\r\n\r\n');
    if (at < 0) continue;
    const head = part.slice(0, at);
    const filename = /filename="?([^";\r\n]+)"?/i.exec(head.replace(/\r\n[ \t]+/g, ' '))?.[1];
    if (!filename?.endsWith('.wav')) continue;
    if (!/base64/i.test(header(head, 'Content-Transfer-Encoding') ?? '')) throw new Error('attachment not base64');
    const type = (header(head, 'Content-Type') ?? '').split(';')[0]!.trim();
    return { filename, type, bytes: Buffer.from(part.slice(at + 4).replace(/\s+/g, ''), 'base64') };
  }
  throw new Error('no .wav attachment');
}

