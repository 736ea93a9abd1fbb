import type { HostLayout } from '../host/layout.js';
import type { SystemdAdapter } from '../systemd/adapter.js';
import type { EgressGuard } from './egress.js';

/**
 * What one build step of an overlay gets. A step writes only below `dir`
 * (the overlay's unfinished build directory, renamed into place by the
 * pipeline when every step succeeded) and reports progress through `log`.
 */
export interface BuildContext {
  /** Overlay name (for messages). */
  overlay: string;
  /** Index of this step in spec.sources (for messages). */
  step: number;
  /** The unfinished build directory, as this process reaches it. */
  dir: string;
  /** The same directory as systemd on the host sees it (for bind mounts of sandboxed steps). */
  hostDir: string;
  /** Shared download cache (workshop VPKs by item revision), as this process reaches it. */
  cacheDir: string;
  /** Scratch space for downloads of this build (removed afterwards), as this process reaches it. */
  tmpDir: string;
  /** Appends one line to the build log. */
  log(line: string): void;
  /**
   * Says what the step does now, for the overlay's status (the pipeline
   * throttles what is written): a short label, never a whole URL, and a
   * download's bytes. Unset in contexts nobody watches (single-step tests).
   */
  progress?(activity: StepActivity): void;
  /** Aborted when the build is cancelled or times out. */
  signal: AbortSignal;
  /** systemd, for steps that run in a sandbox (scripts, archives). */
  systemd: SystemdAdapter;
  /** The host layout (data dir, build account, trees a sandbox must never see), as the controller was configured. */
  layout: HostLayout;
  /** Base URL of the Steam Web API (tests point it at a local stand-in). */
  steamApiBase: string;
  /** Largest single download, in bytes. */
  maxDownloadBytes: number;
  /** Which addresses downloads and the Steam Web API may reach (public ones plus the operator's allowed networks). */
  egress: EgressGuard;
  /** The operator's cap on one archive's content, in bytes (a larger maxSize gets this); unset: maxSize alone. */
  maxArchiveBytes?: number;
  /** What the operator's cap on a whole build leaves for this step, in bytes; unset: no build cap. */
  buildBytesLeft?: number;
}

/** What a running step says it does: `label` (e.g. `download maps.7z`) and, while downloading, bytes so far and of the whole when known. */
export interface StepActivity {
  label: string;
  bytes?: number;
  totalBytes?: number;
}

/** A step that failed for a reason a person must fix (bad checksum, missing item, script exit code); the message says what and where. */
export class BuildStepError extends Error {
  override name = 'BuildStepError';
}
