// A wall clock a test can step under one process, as NTP steps a host's: the
// process runs with Debian's libfaketime preloaded, reading its offset from a
// file on every call (FAKETIME_NO_CACHE), and its monotonic clock left real
// (FAKETIME_DONT_FAKE_MONOTONIC) — node's Date.now() jumps, performance.now()
// and its timers do not. Files the process writes keep the kernel's (real)
// times, as they would on a host whose clock was stepped before they were made.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LIBFAKETIME } from '../../controller/doctor/prerequisites.js';

/** One stepped clock: the environment that puts a process under it, and the step it is at. */
export interface SteppedClock {
  /** Environment variables for the processes this clock governs (merge into process.env). */
  env: Record<string, string>;
  /** The offset from real time, in whole seconds, that the governed processes see now. */
  readonly offsetSeconds: number;
  /** Steps the clock to `seconds` from real time (a jump of the difference), effective at the process's next read. */
  set(seconds: number): Promise<void>;
}

/** A stepped clock whose offset file lives in `dir`; it starts at real time. */
export async function steppedClock(dir: string): Promise<SteppedClock> {
  const file = join(dir, 'faketime-offset');
  let offset = 0;
  // Whole-file replacement: a process reading while we write must never see an empty file (= no offset, a jump).
  const write = async (seconds: number) => {
    await writeFile(`${file}.tmp`, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
    await rename(`${file}.tmp`, file);
  };
  await write(0);
  return {
    env: { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    get offsetSeconds() {
      return offset;
    },
    async set(seconds: number) {
      if (!Number.isInteger(seconds)) throw new Error(`a clock step is whole seconds, not ${seconds}`);
      await write(seconds);
      offset = seconds;
    },
  };
}
