// Run as a separate process by test/private-host.test.ts: boots a private
// host, prints its identity as one JSON line, then dies the way argv[2] says
// ('throw': an uncaught exception; 'hang': wait to be SIGKILLed), so the test
// can check that the host dies with it.
import { bootPrivateHost } from '../../controller/demo/private-host/private-host.js';

async function main(): Promise<void> {
  const mode = process.argv[2];
  const host = await bootPrivateHost();
  process.stdout.write(JSON.stringify({ pid: host.pid, identity: host.identity }) + '\n');
  if (mode === 'throw') {
    setTimeout(() => {
      throw new Error('deliberate crash while a private host is running');
    }, 10);
  } else {
    setInterval(() => undefined, 60_000);
  }
}

void main();
