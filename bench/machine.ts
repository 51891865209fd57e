/** What the benchmark ran on, recorded beside the numbers. */
import * as os from 'os';
import { info } from '../lib';

export function machine(): Record<string, unknown> {
  const i = info();
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    peftjs: i.version,
    cpuPath: i.native?.cpuPath ?? null,
    threads: i.native?.threads ?? null,
    cudaDevices: i.native?.cudaDevices ?? 0,
    date: new Date().toISOString(),
  };
}
