#!/usr/bin/env node
/**
 * Makes package.json's bin files executable (0755), run after tsc by `npm run build` and `prepare`:
 * tsc writes new files 0644, and npm links a bin as it finds it, so a CLI built after `npm install`
 * linked it fails with `sh: 1: peftjs: Permission denied`. Paths are relative to the current folder,
 * which npm sets to the package root for scripts.
 */
const fs = require('fs');

const { bin } = JSON.parse(fs.readFileSync('package.json', 'utf8'));
for (const file of typeof bin === 'string' ? [bin] : Object.values(bin ?? {})) fs.chmodSync(file, 0o755);
