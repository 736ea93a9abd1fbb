// Directory trees deeper than PATH_MAX allows to name, as a script or a game
// server can leave them: built by a separate process that descends with
// chdir, since no full path to the bottom can be passed to a system call.
import { execFileSync } from 'node:child_process';

/** Creates `levels` nested directories named `d` below the existing directory `dir`, with a file `f` at the bottom. */
export function makeDeepTree(dir: string, levels: number): void {
  execFileSync(process.execPath, [
    '-e',
    `const fs = require('node:fs');
     process.chdir(process.argv[1]);
     for (let i = 0; i < Number(process.argv[2]); i++) { fs.mkdirSync('d'); process.chdir('d'); }
     fs.writeFileSync('f', 'bottom');`,
    dir,
    String(levels),
  ]);
}
