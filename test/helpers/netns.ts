/**
 * Test hosts in network namespaces, for multi-node tests: one namespace per node with two
 * interfaces, `lan0` (SIP and media, 10.16.S.x) and `bus0` (the solution bus, 10.116.S.x), both
 * wired to bridges in a switch namespace; the test's own namespace gets 10.16.S.1 on the lan
 * so sipp and baresip reach the nodes from here. Taking a node's bus0 down cuts it from the bus
 * and nothing else. Needs root and iproute2. Namespace names are global to the machine, and
 * other runs of the same test (other worktrees) may run at once: every name carries the tag and
 * this process's pid, and the namespaces are removed when the process exits, however it ends.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The system's nftables command: by its path, since under npm and npx `nft` on the PATH is
 * node_modules/.bin/nft (@vercel/nft, a file tracer among the dev tools).
 */
const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? '/usr/sbin/nft';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

export class TestNet {
  readonly tag: string;
  readonly subnet: number;
  readonly #nodes: string[] = [];
  /** The tag and this run's pid: what makes every name of this run unique on the machine. */
  readonly #run: string;

  /** `tag`: a few characters unique to the test file (with 16 in it); `subnet`: 1..250. */
  constructor(tag: string, subnet: number) {
    if (!/^[a-z0-9]{2,6}$/.test(tag)) throw new TypeError('tag: 2..6 lower-case letters or digits');
    this.tag = tag;
    this.subnet = subnet;
    this.#run = `${tag}${process.pid}`;
    process.once('exit', () => this.down());
  }

  get switch(): string {
    return `pbx${this.#run}-sw`;
  }

  ns(node: string): string {
    return `pbx${this.#run}-${node}`;
  }

  /** The test's own lan address. */
  get here(): string {
    return `10.16.${this.subnet}.1`;
  }

  /**
   * Another address of the test's own on the lan (10.16.S.`n`, `n` in 2..10), added on first use:
   * a peer that must not share the phones' address (a carrier whose trunk is known by its address).
   */
  extra(n: number): string {
    if (!Number.isInteger(n) || n < 2 || n > 10) throw new TypeError('n: integer 2..10');
    const address = `10.16.${this.subnet}.${n}`;
    const dev = `v${this.#run}`.slice(0, 15);
    if (!ip('-o', 'addr', 'show', 'dev', dev).includes(` ${address}/`)) ip('addr', 'add', `${address}/24`, 'dev', dev);
    return address;
  }

  /** A node's lan (SIP, media) or bus address; nodes are numbered from 11 in the order added. */
  addr(node: string, net: 'lan' | 'bus' = 'lan'): string {
    const i = this.#nodes.indexOf(node);
    if (i < 0) throw new TypeError(`node: ${node} is not on this net`);
    return `10.${net === 'lan' ? 16 : 116}.${this.subnet}.${11 + i}`;
  }

  up(nodes: string[]): void {
    this.down(nodes);
    const sw = this.switch;
    ip('netns', 'add', sw);
    ip('-n', sw, 'link', 'set', 'lo', 'up');
    for (const br of ['brlan', 'brbus']) {
      ip('-n', sw, 'link', 'add', br, 'type', 'bridge');
      ip('-n', sw, 'link', 'set', br, 'up');
    }
    // in the test's own namespace (at most 15 characters)
    const here = `v${this.#run}`.slice(0, 15);
    ip('link', 'add', here, 'type', 'veth', 'peer', 'name', 'l-test', 'netns', sw);
    ip('-n', sw, 'link', 'set', 'l-test', 'master', 'brlan', 'up');
    ip('addr', 'add', `${this.here}/24`, 'dev', here);
    ip('link', 'set', here, 'up');
    for (const node of nodes) {
      this.#nodes.push(node);
      const ns = this.ns(node);
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      for (const [net, dev, br] of [['lan', 'lan0', 'brlan'], ['bus', 'bus0', 'brbus']] as const) {
        const peer = this.#switchPorts(node)[net === 'lan' ? 0 : 1];
        ip('link', 'add', dev, 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', sw);
        ip('-n', sw, 'link', 'set', peer, 'master', br, 'up');
        ip('-n', ns, 'addr', 'add', `${this.addr(node, net)}/24`, 'dev', dev);
        ip('-n', ns, 'link', 'set', dev, 'up');
      }
    }
  }

  /** Takes a node's bus interface down (cut from the bus) or up again. */
  setBus(node: string, up: boolean): void {
    ip('-n', this.ns(node), 'link', 'set', 'bus0', up ? 'up' : 'down');
  }

  /**
   * Cuts (or restores) every path between two nodes, lan and bus, while each still reaches the
   * others: a blackhole route to the other's addresses in each namespace.
   */
  setPath(a: string, b: string, up: boolean): void {
    for (const [from, to] of [[a, b], [b, a]]) {
      for (const net of ['lan', 'bus'] as const) ip('-n', this.ns(from), 'route', up ? 'del' : 'add', 'blackhole', `${this.addr(to, net)}/32`);
    }
  }

  /** Takes both of a node's interfaces down (its machine off the network) or up again. */
  setLinks(node: string, up: boolean): void {
    for (const dev of ['lan0', 'bus0']) ip('-n', this.ns(node), 'link', 'set', dev, up ? 'up' : 'down');
  }

  /**
   * Drops a random `percent` of the packets on a node's lan and bus, each way and each packet
   * drawn on its own (`numgen random mod 100 < percent`), or with 0 drops nothing again: loss on
   * the wire, not at the node. nftables ingress hooks at the receiving end of each cable: the
   * node's own interfaces for what it receives, the switch's ports for what it sends (a drop on
   * the node's output hook would fail its sends with EPERM, which no lossy link does). Needs
   * nftables (scripts/peers.sh).
   */
  setLoss(node: string, percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new TypeError('percent: integer 0..100');
    const drop = `${percent === 100 ? '' : `numgen random mod 100 < ${percent} `}counter drop`;
    const table = (devices: string[]) => percent === 0 ? '' : `table netdev ${this.#lossTable(node)} {
${devices.map((d, i) => `  chain c${i} { type filter hook ingress device "${d}" priority 0; ${drop}; }`).join('\n')}
}`;
    const [lan, bus] = this.#switchPorts(node);
    for (const [ns, devices] of [[this.ns(node), ['lan0', 'bus0']], [this.switch, [lan, bus]]] as [string, string[]][]) {
      // the table replaced whole, in one nft transaction (added first, so that the delete always finds one)
      const name = this.#lossTable(node);
      execFileSync('ip', ['netns', 'exec', ns, NFT, '-f', '-'], { input: `table netdev ${name} {}\ndelete table netdev ${name}\n${table(devices)}\n` });
    }
  }

  /** The packets the loss rules of `node` dropped so far, both ways (0 without rules). */
  dropped(node: string): number {
    let n = 0;
    for (const ns of [this.ns(node), this.switch]) {
      try {
        const out = execFileSync('ip', ['netns', 'exec', ns, NFT, 'list', 'table', 'netdev', this.#lossTable(node)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        for (const m of out.matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
      } catch {
        // no rules there
      }
    }
    return n;
  }

  #lossTable(node: string): string {
    return `pbxloss_${node.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  }

  /** The switch's ports of a node's lan and bus cables. */
  #switchPorts(node: string): [string, string] {
    return [`l-${node}`.slice(0, 15), `b-${node}`.slice(0, 15)];
  }

  /** Kills every process in a node's namespace at once (SIGKILL, or SIGSTOP/SIGCONT): the machine dies or hangs. */
  signalAll(node: string, signal: NodeJS.Signals = 'SIGKILL'): number {
    const pids = ip('netns', 'pids', this.ns(node)).split('\n').filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), signal);
      } catch {
        // already gone
      }
    }
    return pids.length;
  }

  /** Kills what still runs in the namespaces (processes these tests started) and removes them. */
  down(nodes: string[] = this.#nodes): void {
    const all = [...nodes.map((n) => this.ns(n)), this.switch];
    const existing = ip('netns', 'list');
    for (const ns of all) {
      if (!existing.split('\n').some((l) => l.split(' ')[0] === ns)) continue;
      for (const pid of ip('netns', 'pids', ns).split('\n').filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      ip('netns', 'del', ns);
    }
  }
}
