// bin/berth -> dist/berth-cli.cjs: runs the CLI bundle (dist/berth-cli-main.cjs) from V8's code
// cache (dist/berth-cli-main.cache) when there is one that fits. Node 20 has no compile cache of its
// own (module.enableCompileCache is Node 22), and compiling the bundle is a fifth of what `berth ps`
// costs above `node -e 0` here. The cache is written by `npm run build` (scripts/build-cli.mjs runs
// this file with BERTH_CLI_WRITE_CACHE=1), next to the bundle, never at run time: berth runs as
// root, and code it loads must be as trusted as the bundle itself. V8 refuses a cache made for
// another source, V8 version or flags (cachedDataRejected); then the bundle is simply compiled.
'use strict';
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const { join } = require('node:path');
const { createRequire } = require('node:module');
const { Script } = require('node:vm');

const file = join(__dirname, 'berth-cli-main.cjs');
const cacheFile = join(__dirname, 'berth-cli-main.cache');

let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const source = readFileSync(file, 'utf8');
// The same wrapper Node gives a CommonJS module; the bundle sees the same five names. The bundle
// holds no import() (scripts/build-cli.mjs checks): a script from a code cache has no import() hook.
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: file,
  cachedData,
});
const mod = { exports: {}, filename: file, id: file, loaded: false };
script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, __dirname);

if (process.env['BERTH_CLI_WRITE_CACHE'] === '1') {
  // After the command ran, so the functions it compiled on the way are in the cache too.
  process.once('exit', () => {
    writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
    renameSync(`${cacheFile}.tmp`, cacheFile);
  });
}
