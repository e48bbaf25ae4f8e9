// Builds the native media engine (native/ -> build/Release/pbx_media.node) offline.
// A prebuild in prebuilds/<platform>-<arch>/ (prebuildify output) wins; otherwise node-gyp
// rebuilds against the running node's own headers, so no download is ever needed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function fail(msg) {
  console.error(`build-native: ${msg}`);
  process.exit(1);
}

// An existing build is reused while no source is newer than it; otherwise a prebuild for this
// platform (prebuilds/, from `npm run prebuildify`) is used; otherwise we compile.
function upToDate() {
  const built = join(root, 'build', 'Release', 'pbx_media.node');
  if (!existsSync(built)) return false;
  const sources = [join(root, 'binding.gyp'), ...readdirSync(join(root, 'native')).map((f) => join(root, 'native', f))];
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  return newest <= statSync(built).mtimeMs;
}

function hasPrebuild() {
  if (existsSync(join(root, 'build'))) return false; // node-gyp-build prefers build/ over prebuilds/
  try {
    require('node-gyp-build').path(root);
    return true;
  } catch {
    return false;
  }
}

if (!process.argv.includes('--force') && (upToDate() || hasPrebuild())) {
  console.log('build-native: native engine up to date (pass --force to rebuild)');
  process.exit(0);
}

const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const missing = [];
if (!which('g++') && !which('c++') && !which('clang++')) missing.push('a C++ compiler (g++)');
if (!which('make')) missing.push('make');
if (!which('python3')) missing.push('python3');
// node's prefix holds include/node/node_api.h when node was installed from an official tarball.
const nodedir = dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) missing.push(`Node headers (${nodedir}/include/node)`);
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  missing.push('node-gyp (devDependency)');
}
try {
  require.resolve('node-addon-api');
} catch {
  missing.push('node-addon-api');
}
if (missing.length) fail(`cannot build the native media engine, missing: ${missing.join(', ')}`);

const env = { ...process.env, npm_config_nodedir: nodedir, npm_config_offline: 'true' };
const jobs = String(Math.max(1, (await import('node:os')).availableParallelism?.() ?? 2));
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, `--jobs=${jobs}`], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (r.status !== 0) fail(`node-gyp rebuild failed (exit ${r.status}); see the compiler output above`);
console.log('build-native: built build/Release/pbx_media.node');
