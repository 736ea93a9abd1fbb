// The cli room: the `left4me` command. Each verb is a file; only this one
// (through the launcher in bin/) exits the process. Everything a verb prints
// that a server, a build or a document controls goes through printable.ts.
import { applyCommand } from './apply.js';
import { backupCommand } from './backup.js';
import { UsageError } from './args.js';
import { configCommand } from './config-cmd.js';
import { controllerCommand } from './controller-cmd.js';
import { deleteCommand } from './delete.js';
import { describeCommand } from './describe.js';
import { diffCommand } from './diff.js';
import { doctorCommand } from './doctor.js';
import { logsCommand } from './logs.js';
import { rconCommandCli } from './rcon.js';
import { reconcileCommand } from './reconcile.js';
import { getCommand } from './get.js';
import { topCommand } from './top.js';
import { processIo, type Io } from './io.js';
import { printableIo } from './printable.js';
import { webCommand } from './web.js';
import { tokenCommand, userCommand } from './user.js';
import { validateCommand } from './validate.js';

const USAGE = `usage: left4me <command> [options]

commands:
  validate [DIR]                    check a state directory; exit 0 when valid, 1 with the problems
                                    (without DIR: the host's, with the git sources it serves beside it)
  get KIND [NAME] [-o table|yaml|json|name] [-w [--timeout D]]
                                    list documents with their status (KIND: installations, overlays, blueprints, instances);
                                    -w then prints each row that changes
  get sources [NAME] [-o table|yaml|json|name]
                                    the git sources: URL, ref, serving commit, last fetch, last error
  describe KIND NAME                conditions, events, problems and spec of one document
  apply -f FILE [--dry-run] [--wait [--timeout 5m]]
                                    write the documents of FILE (a YAML file, a directory, or - for stdin;
                                    -f repeats) into the state directory if the whole tree stays valid;
                                    --wait follows them until Ready or failed (exit 1 on failure or timeout)
  delete KIND NAME [--dry-run]      remove a document, unless other documents still use it
  logs overlay|installation NAME [--tail N]
                                    the log of the newest build (overlay) or steamcmd run (installation)
  logs instance NAME [-f] [--tail N]
                                    the game server's log from its journal namespace (journalctl; -f follows)
  reconcile                         ask the running controller for a full pass now
  diff [--config FILE]              what the next controller pass would do (a dry run; changes nothing)
  controller [--once] [--config FILE] [--node NAME] [--unit-dir DIR] [--resync-seconds N]
             [--port-range 27015-27115] [--client-port-range 26900-27000]
             [--uid-range 1879048192-1879113727] [--allow-download-network CIDR]...
             [--max-archive-bytes 8G] [--max-build-bytes 20G] [--build-concurrency 2]
             [--server-sandbox strict|compat]
                                    run the reconciler (as root); servers keep running when it stops;
                                    compat: the game servers' previous sandbox, for a srcds strict kills.
                                    Settings and git sources come from FILE (default
                                    /etc/left4me/controller.yaml, if present); flags win over it
  config check [FILE]               check a controller configuration file (default
                                    /etc/left4me/controller.yaml): exit 0 when the controller would
                                    start with it, 1 with every problem as file:line:col
  user add NAME [--admin] [--password-stdin] | list | passwd NAME [--password-stdin] | remove NAME
                                    the web service's accounts (scrypt hashes in --web-data-dir,
                                    default /var/lib/left4me-web); without --password-stdin one is made
  token create NAME                 a Bearer token for automation, printed once (only its hash is kept)
  web [--listen 127.0.0.1:8000] [--web-data-dir DIR] [--secure-cookies] [--metrics-token-file FILE]
      [--steam-web-api-key-file FILE] [--steam-api-base URL]
                                    the HTTP API (as the web account); --secure-cookies when served over TLS
                                    or behind a TLS proxy (Secure cookies, HSTS); /metrics for an admin or
                                    the scraper token in FILE (not world-readable); the Steam Web API key
                                    file adds persona names to player lists
  top [--once]                      a live table of instances: state, ready, players, CPU, memory, port
  rcon NAME COMMAND... [--timeout SECONDS]
                                    one console command on an instance's server (as root), its output
  doctor [-o table|json] [--port-range A-B] [--client-port-range A-B] [--uid-range A-B]
                                    check this host for what left4me and srcds need (systemd, cgroups,
                                    overlayfs, 32-bit glibc, disk, accounts, directories, ports, units);
                                    ranges default to the controller unit's; exit 1 on any problem
  backup create FILE | restore FILE [--force] [--config FILE] [--config-dir DIR] [--web-data-dir DIR]
                                    documents, controller.yaml, port and uid leases, RCON passwords,
                                    webhook secrets, Steam logins, git credentials and web accounts in
                                    one 0600 tar (not builds, caches or writable layers); restore onto
                                    a fresh host (--force: replace, keeping a copy in DATA/backups)

options:
  --state DIR                       the state directory (default /etc/left4me/state)
  --data-dir DIR                    the controller's data directory (default /var/lib/left4me)
  --installation-root DIR           where directory installations may live (repeatable; default
                                    /srv/left4me/installations); verbs judge documents with it
  --config FILE                     the controller's settings (default /etc/left4me/controller.yaml, if
                                    present): verbs judge documents by its port ranges and installation
                                    roots, as the controller will (a flag wins over it)
  --demo                            target the demo host started by \`npm start\`
  -h, --help                        show this help
`;

type Command = (args: string[], io: Io) => Promise<number>;

// A Map: a verb such as "constructor" or "toString" must be unknown, not an Object.prototype member.
const COMMANDS = new Map<string, Command>(Object.entries({
  validate: validateCommand,
  get: getCommand,
  describe: describeCommand,
  apply: applyCommand,
  delete: deleteCommand,
  controller: controllerCommand,
  config: configCommand,
  diff: diffCommand,
  logs: logsCommand,
  reconcile: reconcileCommand,
  rcon: rconCommandCli,
  user: userCommand,
  web: webCommand,
  token: tokenCommand,
  top: topCommand,
  doctor: doctorCommand,
  backup: backupCommand,
} satisfies Record<string, Command>));

/** Runs the CLI with argv (without node and script); resolves to the exit code. Only the launcher exits. */
export async function main(argv: string[], rawIo: Io = processIo): Promise<number> {
  // Everything a command prints may quote server, build or document text: escape it all at this one boundary.
  const io = printableIo(rawIo);
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '-h' || verb === '--help' || verb === 'help') {
    io.out(USAGE);
    return verb === undefined ? 2 : 0;
  }
  const command = COMMANDS.get(verb);
  if (!command) {
    io.err(`left4me: unknown command "${verb}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    io.out(USAGE);
    return 0;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`left4me ${verb}: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
