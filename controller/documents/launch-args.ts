// What a blueprint's extra launch arguments may not say: a document rule (the
// loader refuses them with file:line), which the unit renderer checks again.

/**
 * Launch arguments an extra arg may not repeat (compared case-insensitively):
 * the ones left4me sets itself, and srcds_run wrapper options that would run
 * another program (-binary, -gdb, -debug, -autoupdate), put Steam credentials
 * on the command line, or make the server ignore the SIGINT systemd stops it with.
 */
export const RESERVED_LAUNCH_ARGS: readonly string[] = [
  '-game', '-port', '+port', '+clientport', '-clientport', '-ip', '+ip', '+map', '-map',
  '-tickrate', '-strictportbind', '-norestart', '+maxplayers', '-maxplayers',
  '-binary', '-gdb', '-debug', '-debuglog', '-autoupdate', '-steamuser', '-steampass',
  '-ignoresigint', '-notrap', '-pidfile',
];
