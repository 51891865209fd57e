/**
 * Preloaded (node --require) into a `peftjs train` child by train-kill.test.ts: SIGKILLs the process in the
 * middle of writing checkpoint-$KILL_STEP, at $KILL_AT:
 *   weights: after the first chunk of the model/adapter safetensors went into the temporary folder;
 *   rename:  with the temporary folder complete, just before the rename that would publish it.
 * SIGKILL runs no handler and no finally block: what is on disk is what a power cut would leave.
 */
'use strict';
const fs = require('fs');

const marker = `.checkpoint-${process.env.KILL_STEP}.`;
const at = process.env.KILL_AT;
const die = () => process.kill(process.pid, 'SIGKILL');

if (at === 'weights') {
  const watched = new Set();
  const openSync = fs.openSync;
  fs.openSync = function (file, ...rest) {
    const fd = openSync.call(this, file, ...rest);
    if (String(file).includes(marker) && String(file).includes('.safetensors')) watched.add(fd);
    return fd;
  };
  const writeSync = fs.writeSync;
  fs.writeSync = function (fd, ...rest) {
    const n = writeSync.call(this, fd, ...rest);
    if (watched.has(fd)) die();
    return n;
  };
} else if (at === 'rename') {
  const renameSync = fs.renameSync;
  fs.renameSync = function (from, to) {
    if (String(from).includes(marker) && String(to).endsWith(`checkpoint-${process.env.KILL_STEP}`)) die();
    return renameSync.call(this, from, to);
  };
} else {
  throw new Error(`kill_in_checkpoint: KILL_AT must be weights or rename, got ${at}`);
}
