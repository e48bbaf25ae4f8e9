/**
 * Each test file takes its ports from its own block so files can run in parallel without
 * colliding. Blocks are 200 ports wide, starting at 30000; give each test file a distinct block
 * number (keep a list in the comment below).
 *
 * Blocks in use: 1 sip/transport, 2 sip/transaction, 3 registrar, 4 registrar-peers,
 * 5 rfc4475, 6 websocket, 10-19 media tests, 20-29 reserved, 30 cdr.
 */
export function portBlock(block: number): (offset: number) => number {
  if (!Number.isInteger(block) || block < 0 || block > 150) throw new TypeError('block: integer 0..150');
  const base = 30000 + block * 200;
  return (offset: number) => {
    if (offset < 0 || offset >= 200) throw new RangeError('offset: 0..199');
    return base + offset;
  };
}
