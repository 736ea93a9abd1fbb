// vitest globalSetup: before any test file runs, the doctor's prerequisite
// subset (what the private hosts and the UI tests need from this machine).
// A machine that lacks something stops here with the Debian packages to
// install, instead of failing inside the first private host's boot.
import { hostProbe } from '../../controller/doctor/probe.js';
import { missingPrerequisites, prerequisiteMessage } from '../../controller/doctor/prerequisites.js';

export default async function checkPrerequisites(): Promise<void> {
  const missing = await missingPrerequisites(hostProbe(), { suite: true });
  if (missing.length > 0) throw new Error(`\n${prerequisiteMessage(missing, 'The test suite')}`);
}
