/**
 * Attended transfer: a SIP.js phone (X) talks to P and consults C, then transfers P to C with
 * REFER and Replaces (RFC 3515, RFC 3891); P and C (baresip, each sending its own tone) then
 * hear each other and X's calls end.
 */
import test from 'ava';
import { join } from 'node:path';
import { Inviter, SessionState, UserAgent, type Session } from 'sip.js';
import { portBlock } from '../helpers/ports.js';
import { startServer } from '../helpers/server.js';
import { Baresip, makeToneWav } from '../helpers/baresip.js';
import { sipjsPhone } from '../helpers/sipjs.js';
import { readWav } from '../helpers/wav.js';
import { hasTone, lacksTone } from '../helpers/tone.js';
import { readdirSync } from 'node:fs';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(20);

async function heard(bs: Baresip) {
  const dir = join(bs.dir, 'rec');
  const files = readdirSync(dir).filter((f) => f.endsWith('-dec.wav')).sort();
  return (await readWav(join(dir, files[files.length - 1]))).samples;
}

function established(s: Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('call not established within 15 s')), 15_000);
    s.stateChange.addListener((st) => {
      if (st === SessionState.Established) {
        clearTimeout(timer);
        resolve();
      } else if (st === SessionState.Terminated) reject(new Error('call terminated before it was established'));
    });
  });
}

test.serial('attended transfer: X consults C, then hands P over to C; P and C hear each other', async (t) => {
  const users = ['221', '222', '223'].map((e) => `  - { extension: "${e}", password: demo${e} }`).join('\n');
  const node = await startServer({ udp: port(0), ws: port(1), users });
  const mk = async (ext: string, n: number, freq: number) => {
    const bs = await Baresip.start({
      listen: `127.0.0.${40 + n}:${port(10 + n)}`, ctrlPort: port(20 + n), source: makeToneWav(join(node.dir, `t${ext}.wav`), freq, 60),
      account: `<sip:${ext}@127.0.0.1:${port(0)}>;auth_pass=demo${ext};regint=600;answermode=auto;audio_codecs=PCMU,PCMA`,
    });
    await bs.waitRegistered();
    return bs;
  };
  const p = await mk('222', 1, 440);
  const c = await mk('223', 2, 1700);
  const x = await sipjsPhone({ url: `ws://127.0.0.1:${port(1)}`, user: '221', password: 'demo221', domain: '127.0.0.1', rtpPort: port(40) });
  try {
    const toP = new Inviter(x.ua, UserAgent.makeURI('sip:222@127.0.0.1')!);
    const p1 = established(toP);
    await toP.invite();
    await p1;
    const toC = new Inviter(x.ua, UserAgent.makeURI('sip:223@127.0.0.1')!);
    const p2 = established(toC);
    await toC.invite();
    await p2;
    await sleep(500);
    await toP.refer(toC);
    await until('the attended transfer', () => node.logger.records.some((r) => /attended transfer by 221: 222 now talks to 223/.test(String(r.message))), 10_000);
    await until('one call left: P with C', () => node.server.calls.active === 1, 10_000);
    await sleep(2500); // P and C talk
    p.command('hangup');
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    const pTail = (await heard(p)).slice(-8000 * 2);
    const cTail = (await heard(c)).slice(-8000 * 2);
    t.true(hasTone(pTail, 1700, 0.3), 'P hears C');
    t.true(hasTone(cTail, 440, 0.3), 'C hears P');
    t.true(lacksTone(pTail, 440, 0.05) && lacksTone(cTail, 1700, 0.05), 'nobody hears itself');
    t.is(node.server.calls.active, 0);
  } finally {
    await x.dispose();
    await p.stop();
    await c.stop();
    await node.close();
  }
});
