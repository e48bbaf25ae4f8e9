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
import type { NodeBoot } from './solution/boot.js';

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
  explain: {
    summary: "print the router's decision for a dialled or incoming number",
    usage: 'explain [--config file] (--from 201 | --line-group 1 [--caller 0207... | --withheld]) --number N [--at 2026-11-25T10:00:00Z]',
    async run(args) {
      return explain(args);
    },
  },
};

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
  const server = new Server(config, logger, { solution });
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
