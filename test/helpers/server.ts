import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/core/config/index.js';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Server } from '../../src/server.js';

export interface TestServer {
  server: Server;
  config: Config;
  logger: TestLogger;
  dir: string;
  close(): Promise<void>;
}

/**
 * A node on loopback with the demo users 201..210 (passwords demo201...), its SQLite file in a
 * fresh temporary folder. `yaml` is appended to the generated document's top level, so a test
 * can override sections (keys it sets must not already be in the base text below); `voicemail` and
 * `media` add settings to those sections. The admin API is off unless `admin` gives its settings.
 * `bind` replaces 127.0.0.1 as the address of every SIP socket and of the media engine (demo
 * passwords then need replacing through `users`), `advertise` sets what they write into
 * Via/Contact and SDP.
 */
export async function startServer(opts: { udp: number; tcp?: number; ws?: number; yaml?: string; dir?: string; users?: string; domain?: string; voicemail?: string; media?: string; admin?: string; bind?: string; advertise?: { sip?: string; media?: string } }): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'pbx-test-'));
  const bind = opts.bind ?? '127.0.0.1';
  const adv = opts.advertise?.sip ? `, advertise: ${opts.advertise.sip}` : '';
  const listen = [`    - { transport: udp, address: ${bind}, port: ${opts.udp}${adv} }`];
  if (opts.tcp) listen.push(`    - { transport: tcp, address: ${bind}, port: ${opts.tcp}${adv} }`);
  if (opts.ws) listen.push(`    - { transport: ws, address: ${bind}, port: ${opts.ws}${adv} }`);
  const users = opts.users ?? Array.from({ length: 10 }, (_, i) => `  - { extension: "${201 + i}", password: demo${201 + i} }`).join('\n');
  const text = [
    'sip:',
    `  domain: ${opts.domain ?? '127.0.0.1'}`,
    '  listen:',
    ...listen,
    `storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }`,
    'log: { level: debug }',
    // away from baresip's RTP range (20000-20999) and the tests' SIP port blocks (30000+)
    `media: { address: ${bind}${opts.advertise?.media ? `, advertise: ${opts.advertise.media}` : ''}, portMin: 40000, portMax: 49999${opts.media ? `, ${opts.media}` : ''} }`,
    // messages in the test's folder; `voicemail` adds settings to this section
    `voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))}${opts.voicemail ? `, ${opts.voicemail}` : ''} }`,
    // the admin API only where a test asks for it (`admin`: the section's settings, e.g. `port: 30100`)
    `admin: { ${opts.admin ?? 'enabled: false'} }`,
    'users:',
    users,
    opts.yaml ?? '',
  ].join('\n');
  const config = parseConfig(text, 'test');
  const logger = createTestLogger('debug');
  const server = new Server(config, logger, { source: { text } });
  await server.start();
  return { server, config, logger, dir, close: () => server.close() };
}
