/**
 * The shapes the web API sends that the dashboard reads too: one definition
 * for both sides (ui/ imports this file's types; it imports nothing but types).
 */
import type { Kind } from '../documents/kinds.js';
import type { DocumentOrigin } from '../documents/origin.js';

/** What an event says about one document: never more than these fields. */
export interface StatusSummary {
  kind: Kind;
  name: string;
  ready: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  port?: number;
  players?: number;
  maxPlayers?: number;
  /** Instances: the map the server said it runs (A2S). */
  map?: string;
  /** systemd's active state of an instance's server unit. */
  unit?: string;
  /** Overlays and installations: the outcome of the newest build attempt. */
  build?: 'Succeeded' | 'Failed';
  /** A build or install running now: its id (overlays) and, for Steam installations, steamcmd's progress. */
  building?: string;
  progress?: { pass: number; passes: number; state: string; percent: number };
  /** Overlays: where a running build is (step N of M, what it does, a download's bytes). */
  buildStep?: { step: number; steps: number; kind: string; label: string; bytes?: number; totalBytes?: number };
}

/** A row of `GET /api/v1/instances` (its response schema: `left4me-web/instance-item` in schemas.ts). */
export interface InstanceItem {
  name: string;
  owner: string;
  blueprint: string;
  state: string;
  ready: string;
  reason?: string;
  message?: string;
  port?: number;
  players?: number;
  maxPlayers?: number;
  map?: string;
  unit?: string;
  /** Where the document came from when a git source serves it. */
  origin?: DocumentOrigin;
}
