/**
 * Passwords for the command line: from a file (`--password-file`), else from standard input —
 * typed without echo at a terminal, or the first line of a pipe. Never from an argument (it
 * would show in the process list and the shell's history).
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export async function readPassword(prompt: string, file: string | undefined): Promise<string> {
  if (file !== undefined) return readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  process.stderr.write(prompt);
  // readline echoes what is typed through _writeToOutput: swallow it
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}
