/**
 * A sipp caller that dials a number with digest credentials and, once answered, types digits by
 * SIP INFO (application/dtmf-relay) on a schedule, then hangs up. The scenario is written per
 * test: `steps` are digit strings (one INFO per digit, 150 ms apart) and pauses in ms.
 * Keys: caller (From user); -s the number; -au/-ap the credentials.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const invite = (cseq: number, auth: boolean) => `
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[remote_ip]:[remote_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: ${cseq} INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port]>${auth ? '\n      [authentication]' : ''}
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 1 ${cseq} IN IP[media_ip_type] [media_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>`;

const inDialog = (method: string, cseq: number, body = '', type = '') => `
  <send retrans="500">
    <![CDATA[
      ${method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[remote_ip]:[remote_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70${type ? `\n      Content-Type: ${type}` : ''}
      Content-Length: [len]
${body ? `\n      ${body.split('\n').join('\n      ')}` : ''}
    ]]>
  </send>
  <recv request="BYE" optional="true" next="bye"/>
  <recv response="481" optional="true" next="end"/>
  <recv response="200"/>`;

/** Writes the scenario to `dir` and returns its path. */
export function dtmfScenario(dir: string, name: string, steps: (string | number)[]): string {
  let cseq = 2;
  const parts: string[] = [invite(1, false), `
  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:[caller]@[remote_ip]:[remote_port]>;tag=[pid]c[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>`, invite(2, true), `
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[remote_ip]:[remote_port]>;tag=[pid]c[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>`];
  for (const step of steps) {
    if (typeof step === 'number') {
      parts.push(`\n  <pause milliseconds="${step}"/>`);
      continue;
    }
    for (const d of step) {
      parts.push(inDialog('INFO', ++cseq, `Signal=${d}\nDuration=160`, 'application/dtmf-relay'));
      parts.push('\n  <pause milliseconds="150"/>');
    }
  }
  parts.push(inDialog('BYE', ++cseq), `
  <label id="bye"/>
  <send next="end">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="end"/>`);
  const path = join(dir, `${name}.xml`);
  writeFileSync(path, `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n<scenario name="${name}">${parts.join('')}\n</scenario>\n`);
  return path;
}
