// A CPU budget for a process and everything it starts later (a vat node and its vat worker):
// a Linux control group with a CPU quota, so that n vat nodes on one machine each get what one
// host of that size would give them, instead of competing for the same cores. Needs write
// access to the cgroup file system (root, or a delegated subtree); without it the caller is
// told why and skips what needs a budget.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CpuBudget {
  /** Cores the group may use (as a quota per period: 0.5 = half of one core's time). */
  readonly cores: number;
  /** Moves a process into the group; processes it starts afterwards are in it too. */
  add(pid: number): void;
  /** Removes the group once its processes (a worker may outlive its node briefly) are gone. */
  close(): Promise<void>;
}

const PERIOD_US = 10_000; // a short period: throttling in small slices, not 100 ms stalls
const V2_ROOT = '/sys/fs/cgroup';
const V1_CPU = '/sys/fs/cgroup/cpu';

/** A budget of `cores` named `name`, or the reason there cannot be one here. */
export function cpuBudget(name: string, cores: number): CpuBudget | string {
  if (!(cores > 0)) return `bad CPU budget ${cores}`;
  const quota = Math.max(1_000, Math.round(cores * PERIOD_US));
  try {
    if (existsSync(join(V2_ROOT, 'cgroup.controllers'))) {
      if (!readFileSync(join(V2_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) {
        return 'cgroup v2 without the cpu controller';
      }
      writeFileSync(join(V2_ROOT, 'cgroup.subtree_control'), '+cpu');
      const dir = join(V2_ROOT, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
      return group(dir, cores);
    }
    if (existsSync(join(V1_CPU, 'cpu.cfs_quota_us'))) {
      const dir = join(V1_CPU, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
      return group(dir, cores);
    }
    return 'no cgroup cpu controller mounted';
  } catch (e) {
    return `cannot make a cgroup: ${(e as Error).message}`;
  }
}

function group(dir: string, cores: number): CpuBudget {
  return {
    cores,
    add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
    close: async () => {
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          await sleep(50); // EBUSY: a process of the group is still exiting
        }
      }
      console.error(`bench: cgroup ${dir} is still busy; left in place`);
    },
  };
}
