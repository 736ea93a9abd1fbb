// Typed views of the four document kinds. They mirror schemas/*.schema.json,
// which stay the single contract: the loader only hands out documents the
// schemas accepted, with defaults filled in and workshop ids as strings.

import type { DocumentOrigin } from './origin.js';

/** The document kinds, in dependency order (an Instance needs a Blueprint needs Overlays and an Installation). */
export const KINDS = ['Installation', 'Overlay', 'Blueprint', 'Instance'] as const;
/** One of the four document kinds. */
export type Kind = (typeof KINDS)[number];

/** `metadata` of every document. */
export interface Metadata {
  name: string;
  owner: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A cvar table as written in documents. */
export type Cvars = Record<string, string | number | boolean>;

/** spec of an Installation document. */
export interface InstallationSpec {
  source: 'steam' | 'directory';
  path?: string;
  steam?: { branch: string; login: string; validate: boolean; windowsFirst: boolean };
  refresh?: string;
}

/** One file of a `files` overlay source. */
export interface OverlayFile {
  path: string;
  content?: string;
  url?: string;
  sha256?: string;
  mode: string;
}

/** One build step of an overlay. Exactly one key is set. */
export type OverlaySource =
  | { files: OverlayFile[] }
  | {
      archive: {
        url: string;
        sha256: string;
        format?: 'zip' | 'tar' | 'tar.gz' | 'tar.xz' | 'tar.bz2' | '7z';
        stripComponents: number;
        target?: string;
        maxSize: number;
      };
    }
  | { workshop: { items?: string[]; collections?: string[] } }
  | { script: { run: string; timeout: string } };

/** spec of an Overlay document. */
export interface OverlaySpec {
  sources: OverlaySource[];
  refresh?: string;
  serverCfg?: string;
  aliases?: Record<string, string>;
}

/** spec of a Blueprint document. */
export interface BlueprintSpec {
  installation?: string;
  overlays: string[];
  map: string;
  maxPlayers: number;
  tickrate: number;
  gameMode: string;
  difficulty?: 'easy' | 'normal' | 'hard' | 'impossible';
  cvars?: Cvars;
  launchArgs?: string[];
  serverCfg?: string;
  exec?: string[];
}

/** spec of an Instance document. */
export interface InstanceSpec {
  blueprint: string;
  state: 'running' | 'stopped';
  port?: number;
  clientPort?: number;
  node?: string;
  cvars?: Cvars;
  updatePolicy: 'whenEmpty' | 'immediate' | 'manual';
  maxUpdateDelay: string;
}

/** Maps each kind to its spec type. */
export interface SpecOf {
  Installation: InstallationSpec;
  Overlay: OverlaySpec;
  Blueprint: BlueprintSpec;
  Instance: InstanceSpec;
}

/** Where a document (or one of its fields) was written. Lines and columns count from 1. */
export interface SourcePosition {
  /** The file as this process reads it (for a git source, inside the checkout of its commit). */
  file: string;
  line: number;
  col: number;
  /** Set when the document comes from a git source: it is read-only (change the repository), and shown by this origin. */
  origin?: DocumentOrigin;
}

/** A validated document of kind K, with where it came from and its generation. */
export interface Document<K extends Kind = Kind> {
  apiVersion: 'left4me/v1';
  kind: K;
  metadata: Metadata;
  spec: SpecOf[K];
  /** Stable hash of the canonical spec: what status' observedGeneration is compared with. */
  generation: string;
  /** The position of the document's first line. */
  source: SourcePosition;
}

/** Lower-case plural used in keys and CLI output, e.g. `instance/versus-1`. */
export function kindKey(kind: Kind): string {
  return kind.toLowerCase();
}
