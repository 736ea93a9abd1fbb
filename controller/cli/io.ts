/** Where a command writes; tests capture it, the launcher binds it to stdout/stderr. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** Io bound to the process' streams. */
export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};
