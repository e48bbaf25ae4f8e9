#!/usr/bin/env node
/**
 * Command line: `pbx <command> [options]`. Commands live in one table; adding one (`explain`
 * for the router's decision trace, say) is one entry with its summary, usage and run().
 * Exit codes: 0 success, 1 refused (bad configuration, start failure), 2 usage error.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfigPath, loadConfig, type Config } from './core/config/index.js';
import { createLogger } from './core/logger.js';
import type { NodeBoot } from './solution/boot.js';

interface Command {
  summary: string;
  usage: string;
  /** Resolves to the exit code, or undefined to let the process run (a started server). */
  run(args: string[]): Promise<number | undefined>;
}

class UsageError extends Error {}

/** Graceful shutdown gets this long beyond the calls' drain before the process exits anyway. */
const SHUTDOWN_MARGIN_MS = 10_000;

const commands: Record<string, Command> = {
  check: {
    summary: 'validate a configuration file without starting anything',
    usage: 'check [file | --config file]   (default: config/default.yaml)',
    async run(args) {
      const file = configArg(args, true);
      const config = tryLoad(file);
      if (!config) return 1;
      console.log(`OK: ${file}${config.nodes.length > 0 ? `\n${(await import('./solution/summary.js')).solutionSummary(config)}` : ''}`);
      return 0;
    },
  },
  start: {
    summary: 'start this node',
    usage: 'start [--config file] [--node name]   (default: config/default.yaml; --node: which node of a solution document)',
    async run(args) {
      const { file, node } = startArgs(args);
      const config = tryLoad(file);
      if (!config) return 1;
      if (config.nodes.length === 0) {
        if (node !== undefined && node !== config.node.name) throw new UsageError(`--node: ${file} is the one node ${config.node.name}`);
        return startServer(config, file);
      }
      if (node === undefined) throw new UsageError(`--node: ${file} is a solution: name the node to start (${config.nodes.map((n) => n.name).join(', ')})`);
      if (!config.nodes.some((n) => n.name === node)) throw new UsageError(`--node: no node ${node} in ${file} (${config.nodes.map((n) => n.name).join(', ')})`);
      const { bootNode } = await import('./solution/boot.js');
      const early = createLogger(config.log);
      let boot;
      try {
        boot = bootNode(file, node, early);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(err.message);
        return 1;
      }
      return startServer(boot.view, file, boot);
    },
  },
  status: {
    summary: "print a running node's state (from its admin API)",
    usage: 'status [--config file] [--url http://127.0.0.1:8090] [--user admin] [--password-file file] [--json]   (the password is read from standard input otherwise)',
    async run(args) {
      return status(args);
    },
  },
  backup: {
    summary: 'write a backup set: configuration, store (online), voicemail messages and greetings, custom prompts, with a manifest of checksums',
    usage: 'backup [--config file] [--out folder]   (default: admin.backup.dir/pbx-backup-<node>-<time>)',
    async run(args) {
      let values;
      try {
        ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, out: { type: 'string' } } }));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const file = values.config ?? defaultConfigPath();
      const config = tryLoad(file);
      if (!config) return 1;
      const { backupCommand } = await import('./admin/cli-backup.js');
      return backupCommand(config, file, values.out);
    },
  },
  restore: {
    summary: 'check a backup set and restore it onto a node that is not running (refuses a damaged or foreign set)',
    usage: 'restore --from folder --config file [--storage file] [--voicemail-dir folder] [--force]',
    async run(args) {
      let values;
      try {
        ({ values } = parseArgs({ args, options: { from: { type: 'string' }, config: { type: 'string', short: 'c' }, storage: { type: 'string' }, 'voicemail-dir': { type: 'string' }, force: { type: 'boolean' } } }));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (values.from === undefined) throw new UsageError('--from is required (the backup set\'s folder)');
      if (values.config === undefined) throw new UsageError('--config is required (where the node\'s configuration goes)');
      const { restoreCommand } = await import('./admin/cli-backup.js');
      return restoreCommand({ from: values.from, config: values.config, storage: values.storage, voicemailDir: values['voicemail-dir'], force: values.force === true });
    },
  },
  account: {
    summary: 'admin accounts in the node\'s store: list, add, password, remove (the first administrator of a node whose API is not on loopback is made here)',
    usage: 'account list | add NAME --role administrator|operator|read-only | password NAME | remove NAME   [--config file] [--password-file file]',
    async run(args) {
      return account(args);
    },
  },
  explain: {
    summary: "print the router's decision for a dialled or incoming number",
    usage: 'explain [--config file] [--node name] (--from 201 | --line-group 1 [--caller 0207... | --withheld]) --number N [--at 2026-11-25T10:00:00Z]   (a solution document: --node, the node explaining; default: the home node of --from, else the primary)',
    async run(args) {
      return explain(args);
    },
  },
  probe: {
    summary: 'send OPTIONS to a node and exit 0 only when it answers 200 (a health check)',
    usage: 'probe [sip:host[:port][;transport=tcp] | --config file [--node name]] [--timeout seconds]   (default: the first udp or tcp socket of config/default.yaml; --node: which node of a solution document)',
    async run(args) {
      return probeCommand(args);
    },
  },
};

/** `probe`: exit 0 on a 200, 1 on any other answer or none, 2 on usage errors. */
async function probeCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, node: { type: 'string', short: 'n' }, timeout: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) throw new UsageError('give one target: a SIP URI or --config');
  if (positionals.length === 1 && values.node !== undefined) throw new UsageError('--node goes with --config (a solution document), not with a SIP URI');
  const timeout = values.timeout === undefined ? 5 : Number(values.timeout);
  if (!(timeout > 0 && timeout <= 60)) throw new UsageError(`--timeout: seconds between 0 and 60, not ${values.timeout}`);
  const { configProbeTarget, describeProbe, parseProbeTarget, probe } = await import('./probe.js');
  let target;
  if (positionals.length === 1) {
    try {
      target = parseProbeTarget(positionals[0]!);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  } else {
    const file = values.config ?? defaultConfigPath();
    const config = tryLoad(file);
    if (!config) return 1;
    const view = await probedView(config, file, values.node);
    try {
      target = configProbeTarget(view);
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  }
  const result = await probe(target, timeout * 1000);
  (result.ok ? console.log : console.error)(describeProbe(target, result));
  return result.ok ? 0 : 1;
}

/**
 * The configuration whose SIP a probe asks: a one-node document itself, or node `node`'s view of
 * a solution document (its sockets come from its entry under nodes:).
 */
async function probedView(config: Config, file: string, node: string | undefined): Promise<Config> {
  if (config.nodes.length === 0) {
    if (node !== undefined && node !== config.node.name) throw new UsageError(`--node: ${file} is the one node ${config.node.name}`);
    return config;
  }
  if (node === undefined) throw new UsageError(`--node: ${file} is a solution: name the node to probe (${config.nodes.map((n) => n.name).join(', ')})`);
  if (!config.nodes.some((n) => n.name === node)) throw new UsageError(`--node: no node ${node} in ${file} (${config.nodes.map((n) => n.name).join(', ')})`);
  const { nodeView, solutionFromText } = await import('./solution/document.js');
  return nodeView(solutionFromText(readFileSync(file, 'utf8'), file), node);
}

/** `explain`: exit 0 when a destination was found, 1 when refused or not found, 2 on usage errors. */
async function explain(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        node: { type: 'string', short: 'n' },
        from: { type: 'string' },
        number: { type: 'string' },
        at: { type: 'string' },
        'line-group': { type: 'string' },
        caller: { type: 'string' },
        withheld: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const number = values.number;
  if (number === undefined) throw new UsageError('--number is required');
  const incoming = values['line-group'] !== undefined;
  if (incoming === (values.from !== undefined)) throw new UsageError('give either --from (a dialled number) or --line-group (an incoming call)');
  if (!incoming && (values.caller !== undefined || values.withheld)) throw new UsageError('--caller and --withheld are for incoming calls');
  if (values.caller !== undefined && values.withheld) throw new UsageError('give --caller or --withheld, not both');
  const at = values.at === undefined ? new Date() : new Date(values.at);
  if (Number.isNaN(at.getTime())) throw new UsageError(`--at: not a date and time: ${values.at}`);
  const file = values.config ?? defaultConfigPath();
  const loaded = tryLoad(file);
  if (!loaded) return 1;
  const { buildRouter } = await import('./features/routing/build.js');
  const { explainIncoming, explainOutgoing } = await import('./features/routing/explain.js');
  const { outgoingNumber } = await import('./features/trunks/numbering.js');
  let config = loaded;
  let router;
  let solution;
  if (loaded.nodes.length === 0) {
    if (values.node !== undefined && values.node !== loaded.node.name) throw new UsageError(`--node: ${file} is the one node ${loaded.node.name}`);
    router = buildRouter(loaded);
  } else {
    // a node of a solution: the way the admin API of that node explains it, the links' state aside
    const node = explainingNode(loaded, file, values.node, incoming ? undefined : values.from);
    const { solutionFromText } = await import('./solution/document.js');
    const { offlineNode } = await import('./solution/offline.js');
    const offline = offlineNode(solutionFromText(readFileSync(file, 'utf8'), file), node);
    ({ view: config, router, solution } = offline);
    console.log(`node: ${node} (from the document: the links' state is known only to a running node, pbx status)`);
  }
  const trunks = config.trunks.map((t) => ({ name: t.name, lineGroup: t.lineGroup, allowTrunkToTrunk: t.allowTrunkToTrunk, rights: t.rights, sent: (n: string) => outgoingNumber(t.numbering, n) }));
  let result;
  if (incoming) {
    const lineGroup = Number(values['line-group']);
    if (!/^[0-9]+$/.test(values['line-group']!)) throw new UsageError('--line-group: must be a line group number');
    result = explainIncoming(router, { lineGroup, number, callerId: values.caller, withheld: values.withheld === true, at }, trunks, solution);
  } else {
    if (!config.users.some((u) => u.extension === values.from)) throw new UsageError(`--from: ${values.from} is not a user's extension${config === loaded ? '' : ` on node ${config.node.name}`}`);
    result = explainOutgoing(router, values.from!, number, at, trunks, solution);
  }
  console.log(result.text);
  return result.found ? 0 : 1;
}

/** The node of a solution document that explains a call: `--node`, else the home node of the caller, else the primary. */
function explainingNode(config: Config, file: string, node: string | undefined, from: string | undefined): string {
  const names = config.nodes.map((n) => n.name);
  if (node !== undefined) {
    if (!names.includes(node)) throw new UsageError(`--node: no node ${node} in ${file} (${names.join(', ')})`);
    return node;
  }
  const primary = config.nodes.find((n) => n.role === 'primary')!.name;
  const user = from === undefined ? undefined : config.users.find((u) => u.extension === from);
  if (from !== undefined && !user) throw new UsageError(`--from: ${from} is not a user's extension`);
  return user?.node ?? primary;
}

/** `status`: 0 when the node answered, 1 when it could not be reached or refused the login. */
async function status(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, user: { type: 'string' }, 'password-file': { type: 'string' }, json: { type: 'boolean' } } }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const config = tryLoad(values.config ?? defaultConfigPath());
  if (!config) return 1;
  const { api, formatStatus, loginTo, targetOf } = await import('./admin/cli-status.js');
  const { readPassword } = await import('./admin/cli-input.js');
  const target = values.url !== undefined ? { url: values.url, ...(targetOf(config).ca ? { ca: targetOf(config).ca } : {}) } : targetOf(config);
  const user = values.user ?? 'admin';
  try {
    const token = await loginTo(target, user, await readPassword(`password of ${user} at ${target.url}: `, values['password-file']));
    const [s, regs, calls] = await Promise.all(['/api/status', '/api/registrations', '/api/calls'].map((p) => api(target, 'GET', p, { token })));
    await api(target, 'POST', '/api/logout', { token });
    if (s!.status !== 200) throw new Error(`status refused (${s!.status}): ${s!.body.error}`);
    console.log(values.json ? JSON.stringify({ status: s!.body, registrations: regs!.body, calls: calls!.body }, null, 2) : formatStatus(s!.body, regs!.body, calls!.body));
    return 0;
  } catch (err) {
    console.error(`pbx status: ${(err as Error).message}`);
    return 1;
  }
}

/** `account`: 0 done, 1 refused (with the reason), 2 usage. */
async function account(args: string[]): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, role: { type: 'string' }, 'password-file': { type: 'string' } } }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [verb, name, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  if (verb === undefined || !['list', 'add', 'password', 'remove'].includes(verb)) throw new UsageError('give list, add, password or remove');
  if (verb !== 'list' && name === undefined) throw new UsageError(`${verb} needs an account name`);
  if ((verb === 'add') !== (values.role !== undefined)) throw new UsageError(verb === 'add' ? 'add needs --role' : '--role is for add');
  const config = tryLoad(values.config ?? defaultConfigPath());
  if (!config) return 1;
  const { Store } = await import('./core/store.js');
  const { Accounts, AccountError, ROLES } = await import('./admin/accounts.js');
  const { readPassword } = await import('./admin/cli-input.js');
  if (values.role !== undefined && !ROLES.includes(values.role as never)) throw new UsageError(`--role: one of ${ROLES.join(', ')}`);
  const store = Store.open(config.storage.path);
  try {
    const accounts = new Accounts(store);
    if (verb === 'list') {
      for (const a of accounts.list()) console.log(`${a.name}\t${a.role}${a.defaultPassword ? '\t(default password: change it)' : ''}`);
      return 0;
    }
    if (verb === 'remove') accounts.remove(name!);
    else {
      const pw = await readPassword(`new password of ${name}: `, values['password-file']);
      if (verb === 'add') await accounts.add(name!, values.role as never, pw);
      else await accounts.setPassword(name!, pw);
    }
    console.log(`account ${name}: ${verb === 'add' ? 'added' : verb === 'remove' ? 'removed' : 'password set'} (${config.storage.path}); sessions on a running node end at their idle timeout`);
    return 0;
  } catch (err) {
    if (!(err instanceof AccountError)) throw err;
    console.error(`pbx account ${verb}: ${err.message}`);
    return 1;
  } finally {
    store.close();
  }
}

/** The configuration file named by `--config file` (or, if `positional`, a bare argument). */
function configArg(args: string[], positional: boolean): string {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, allowPositionals: positional });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) {
    throw new UsageError('give one configuration file');
  }
  return values.config ?? positionals[0] ?? defaultConfigPath();
}

/** `--config file` and `--node name` of start. */
function startArgs(args: string[]): { file: string; node: string | undefined } {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, node: { type: 'string', short: 'n' } } }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { file: values.config ?? defaultConfigPath(), node: values.node };
}

/** The loaded configuration, or undefined after printing every problem to stderr. */
function tryLoad(file: string): Config | undefined {
  try {
    return loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    return undefined;
  }
}

async function startServer(config: Config, file: string, solution?: NodeBoot): Promise<number | undefined> {
  const logger = createLogger(config.log);
  const { Server } = await import('./server.js');
  // the text as well: the revision history keeps it and the admin API edits it (on a node of a
  // solution the node's view is written out instead: the document is the primary's, on the bus)
  const server = new Server(config, logger, solution ? { solution } : { source: { text: readFileSync(file, 'utf8'), path: file } });
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn('second signal: exiting without waiting', { signal });
      process.exit(1);
    }
    closing = true;
    logger.info('shutting down', { signal });
    // A clean close leaves no handle behind and the process ends by itself; this timer (unref'd,
    // so it never keeps the process alive) only fires if something was left open.
    const timeoutMs = config.calls.shutdownSeconds * 1000 + SHUTDOWN_MARGIN_MS;
    setTimeout(() => {
      logger.error('shutdown timed out: something was left open', { timeoutMs });
      process.exit(1);
    }, timeoutMs).unref();
    server.close().then(
      () => {
        logger.info('stopped');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('SIGHUP', onHangUp);
      },
      (err: unknown) => {
        logger.error('close failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP: the primary reads its document again and publishes it to the solution
  const onHangUp = () => {
    if (!solution || closing) return;
    if (config.node.role !== 'primary') {
      logger.info('SIGHUP: only the primary publishes; this node follows the bus');
      return;
    }
    void (async () => {
      const { readSolution } = await import('./solution/document.js');
      try {
        await server.solution?.publish(readSolution(file));
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
        logger.error('SIGHUP: document refused, nothing published', { config: file, problems });
      }
    })();
  };
  process.on('SIGHUP', onHangUp);
  try {
    await server.start();
  } catch (err) {
    logger.error('start failed', { err, config: file });
    await server.close().catch(() => {});
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHangUp);
    return 1;
  }
  logger.info('started', {
    config: file,
    node: config.node.name,
    role: config.node.role,
    profile: config.node.profile,
    listen: config.sip.listen.map((l) => `${l.transport}:${l.address}:${l.port}`),
  });
  return undefined;
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}\n  ${' '.repeat(width)}  usage: pbx ${c.usage}`);
  return `Usage: pbx <command> [options]\n\nCommands:\n${lines.join('\n')}\n\n  pbx --help        this text`;
}

export async function main(argv: string[]): Promise<number | undefined> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    console.error(`pbx: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: pbx ${command.usage}\n${command.summary}`);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`pbx ${name}: ${err.message}\nusage: pbx ${command.usage}`);
      return 2;
    }
    throw err;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined) process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
