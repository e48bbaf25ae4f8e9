// The container tests' ava configuration (scripts/containers.sh test): package.json's settings
// for test/containers/ alone, one file at a time (they share the compose topology). The main
// suite leaves test/containers/ out: it runs where image builds need no network.
import { readFileSync } from 'node:fs';

const { ava } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

export default {
  ...ava,
  files: ['test/containers/**/*.test.ts'],
  concurrency: 1,
  timeout: '5m',
};
