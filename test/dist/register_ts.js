// Lets plain `node -r ./test/dist/register_ts.js script.ts` run the TypeScript sources (for the ranks that
// mpirun starts, outside ts-jest): each .ts file is transpiled on require without a type check, the output
// cached by content hash in the temp folder, as test/fuzz/child_runner.ts's children do.
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');

const cache = path.join(os.tmpdir(), 'peftjs-dist-ts-cache');
fs.mkdirSync(cache, { recursive: true });
let ts = null;
require.extensions['.ts'] = (m, file) => {
  const src = fs.readFileSync(file, 'utf8');
  const out = path.join(cache, crypto.createHash('sha1').update(file + '\0' + src).digest('hex') + '.js');
  let js;
  try {
    js = fs.readFileSync(out, 'utf8');
  } catch {
    ts = ts || require('typescript');
    js = ts.transpileModule(src, { fileName: file, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    // Several ranks may transpile the same file at once: write aside, then rename (atomic).
    const tmp = out + '.' + process.pid;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, out);
  }
  m._compile(js, file);
};
