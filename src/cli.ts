#!/usr/bin/env node
/**
 * Command line: `pbx <command> [options]`. Commands live in one table; adding one (`explain`
 * for the router's decision trace, say) is one entry with its summary, usage and run().
 * Exit codes: 0 success, 1 refused (bad configuration, start failure), 2 usage error.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfigPath, loadConfig, type Config } from './core/config/index.js';
import { createLogger } from './core/logger.js';

interface Command {
  summary: string;
  usage: string;
  /** Resolves to the exit code, or undefined to let the process run (a started server). */
  run(args: string[]): Promise<number | undefined>;
}

class UsageError extends Error {}

/** Graceful shutdown gets this long before the process exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

const commands: Record<string, Command> = {
  check: {
    summary: 'validate a configuration file without starting anything',
    usage: 'check [file | --config file]   (default: config/default.yaml)',
    async run(args) {
      const file = configArg(args, true);
      if (!tryLoad(file)) return 1;
      console.log(`OK: ${file}`);
      return 0;
    },
  },
  start: {
    summary: 'start this node',
    usage: 'start [--config file]   (default: config/default.yaml)',
    async run(args) {
      const file = configArg(args, false);
      const config = tryLoad(file);
      if (!config) return 1;
      return startServer(config, file);
    },
  },
  explain: {
    summary: "print the router's decision for a dialled or incoming number",
    usage: 'explain [--config file] (--from 201 | --line-group 1 [--caller 0207... | --withheld]) --number N [--at 2026-11-25T10:00:00Z]',
    async run(args) {
      return explain(args);
    },
  },
  probe: {
    summary: 'send OPTIONS to a node and exit 0 only when it answers 200 (a health check)',
    usage: 'probe [sip:host[:port][;transport=tcp] | --config file] [--timeout seconds]   (default: the first udp or tcp socket of config/default.yaml)',
    async run(args) {
      return probeCommand(args);
    },
  },
};

/** `probe`: exit 0 on a 200, 1 on any other answer or none, 2 on usage errors. */
async function probeCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, timeout: { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) throw new UsageError('give one target: a SIP URI or --config');
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
    const config = tryLoad(values.config ?? defaultConfigPath());
    if (!config) return 1;
    try {
      target = configProbeTarget(config);
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  }
  const result = await probe(target, timeout * 1000);
  (result.ok ? console.log : console.error)(describeProbe(target, result));
  return result.ok ? 0 : 1;
}

/** `explain`: exit 0 when a destination was found, 1 when refused or not found, 2 on usage errors. */
async function explain(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
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
  const config = tryLoad(values.config ?? defaultConfigPath());
  if (!config) return 1;
  const { Router } = await import('./features/routing/router.js');
  const { explainIncoming, explainOutgoing } = await import('./features/routing/explain.js');
  const router = new Router({ dialPlan: config.dialPlan, users: config.users });
  let result;
  if (incoming) {
    const lineGroup = Number(values['line-group']);
    if (!/^[0-9]+$/.test(values['line-group']!)) throw new UsageError('--line-group: must be a line group number');
    result = explainIncoming(router, { lineGroup, number, callerId: values.caller, withheld: values.withheld === true, at });
  } else {
    if (!config.users.some((u) => u.extension === values.from)) throw new UsageError(`--from: ${values.from} is not a user's extension`);
    result = explainOutgoing(router, values.from!, number, at);
  }
  console.log(result.text);
  return result.found ? 0 : 1;
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

async function startServer(config: Config, file: string): Promise<number | undefined> {
  const logger = createLogger(config.log);
  const { Server } = await import('./server.js');
  const server = new Server(config, logger);
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
    setTimeout(() => {
      logger.error('shutdown timed out: something was left open', { timeoutMs: SHUTDOWN_TIMEOUT_MS });
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    server.close().then(
      () => {
        logger.info('stopped');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
      (err: unknown) => {
        logger.error('close failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await server.start();
  } catch (err) {
    logger.error('start failed', { err, config: file });
    await server.close().catch(() => {});
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
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
