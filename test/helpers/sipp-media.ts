/**
 * Test helper: a real sipp call whose caller streams a G.711 file (rtp_stream) to a given media
 * address (e.g. a media engine endpoint). A sipp UAS (test/peers/sipp/uas_media_to.xml) answers
 * with SDP pointing there, and the sipp UAC (peers' uac_rtpstream.xml) streams to it.
 *
 *   await sippStreamCall({ mediaTo: { address, port, pt: 0 }, rtpFile, talkMs: 3000,
 *                          uasPort, uacPort, uacMediaPort });
 */
import { SCENARIOS, runSipp, startSipp, type SippResult } from './sipp.js';

export interface StreamCallOptions {
  /** Where the answer's SDP points the caller's RTP. */
  mediaTo: { address: string; port: number; pt: 0 | 8 };
  /** Headerless G.711 file matching pt (sipp sends it verbatim), looped. */
  rtpFile: string;
  /** Talk time in ms before the call ends. */
  talkMs: number;
  /** Ports: UAS SIP (the UAS also takes uasPort + 10 for its own media), UAC SIP, UAC media. */
  uasPort: number;
  uacPort: number;
  uacMediaPort: number;
  address?: string;
  timeoutMs?: number;
}

export async function sippStreamCall(o: StreamCallOptions): Promise<{ uac: SippResult; uas: SippResult }> {
  const ip = o.address ?? '127.0.0.1';
  const timeoutMs = o.timeoutMs ?? o.talkMs + 20_000;
  const uas = startSipp(
    ['-sf', `${SCENARIOS}/uas_media_to.xml`, '-i', ip, '-p', String(o.uasPort), '-mp', String(o.uasPort + 10),
      '-key', 'media_to_ip', o.mediaTo.address, '-key', 'media_to_port', String(o.mediaTo.port),
      '-key', 'media_pt', String(o.mediaTo.pt), '-m', '1'],
    { timeoutMs },
  );
  await new Promise((r) => setTimeout(r, 300)); // let the UAS bind
  const uac = await runSipp(
    [`${ip}:${o.uasPort}`, '-sf', `${SCENARIOS}/uac_rtpstream.xml`, '-s', 'engine', '-i', ip, '-p', String(o.uacPort),
      '-mi', ip, '-mp', String(o.uacMediaPort), '-key', 'rtp_file', `${o.rtpFile},-1,${o.mediaTo.pt}`, '-key', 'dtmf', '1',
      '-d', String(o.talkMs), '-m', '1'],
    { timeoutMs },
  );
  return { uac, uas: await uas.done };
}
