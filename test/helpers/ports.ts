/**
 * Each test file takes its ports from its own block so files can run in parallel without
 * colliding. Blocks are 200 ports wide, starting at 30000; give each test file a distinct block
 * number (keep a list in the comment below).
 *
 * Blocks in use: 131-138 security/*, 1 sip/transport (and dns), 116 solution/solution-netns (baresip ctrl ports), 2 sip/dialog, 3 features/registrar,
 * 4 features/registrar-peers, 5 sip/rfc4475, 7 features/calls-peers, 8 features/calls-sipp,
 * 9 features/calls-features, 10-14 media tests (15 media/recorder, 16-19 kept for media), 20 features/calls-transfer,
 * 21 features/voicemail-peers, 22 features/voicemail-crash, 23 features/voicemail-mwi, 24 features/voicemail-email,
 * 25 features/huntgroups-calls, 26 features/huntgroups-queue, 27 features/calls-interop, 28 features/transfer-dialplan, 29 features/shutdown,
 * 30 features/cdr, 40 features/trunks, 41 features/trunk-calls, 45 features/conference, 46 features/conference-peers,
 * 47 features/conference-sipp, 48 features/conference-adhoc (49 kept for conference; blocks 50-99 would fall in the test nodes' media range),
 * 143 solution/failover-faults-netns, 145 core/advertise, 150 solution/standby-start, 160 solution/failover-services-netns, 170 solution/failover-phones-netns,
 * 119-126 admin (119 api, 120 reconfigure-peers, 121 config, 122 console, 123 backup, 124 cli status, 125 alarms/metrics with peers). Media engines of test nodes use 40000-49999 (test/helpers/server.ts);
 * baresip takes RTP ports in 20000-20999. Blocks up to 176 fit below port 65536.
 */
export function portBlock(block: number): (offset: number) => number {
  if (!Number.isInteger(block) || block < 0 || block > 176) throw new TypeError('block: integer 0..176');
  const base = 30000 + block * 200;
  return (offset: number) => {
    if (offset < 0 || offset >= 200) throw new RangeError('offset: 0..199');
    return base + offset;
  };
}
