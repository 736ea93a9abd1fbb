// Root-side HTTP that reaches only the public internet. URLs come from
// documents and from the Steam Web API (someone else's answers), and the
// controller runs as root on the host network, so loopback services, the
// cloud metadata address and the LAN must stay out of reach. The check runs
// inside the socket's own name lookup: the addresses checked are the only
// ones the socket is given, so a name cannot resolve to a public address for
// the check and to a private one for the connection (DNS rebinding).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { nonPublic, parseNetwork, type Network, type NonPublicVerdict } from './networks.js';
import { BuildStepError } from './source.js';

/** Resolves a host name to all its addresses (the system resolver by default; tests inject a stub). */
export type Resolver = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

/** A URL refused because it leads to a non-public address; no connection was attempted. */
export class EgressRefusedError extends BuildStepError {
  override name = 'EgressRefusedError';
}

/** The operator option that allows extra ranges (named in every refusal). */
export const ALLOW_OPTION = '--allow-download-network';

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/**
 * Decides which addresses this process's own downloads may connect to:
 * public ones, plus the networks the operator allowed. Owns nothing but the
 * parsed allow list and the resolver.
 */
export class EgressGuard {
  /** The allowed networks, canonical (e.g. `127.0.0.0/8`). */
  readonly allowed: readonly string[];
  private readonly networks: readonly Network[];

  /** Throws NetworkSyntaxError naming a bad entry of `allowed`. */
  constructor(
    allowed: readonly string[] = [],
    private readonly resolver: Resolver = systemResolver,
  ) {
    this.networks = allowed.map(parseNetwork);
    this.allowed = this.networks.map((n) => n.cidr);
  }

  /** Why `address` may not be connected to, or undefined when it may. */
  verdict(address: string): NonPublicVerdict | undefined {
    return nonPublic(address, this.networks);
  }

  /** Throws EgressRefusedError when `url` names a literal address that is refused (sockets skip the lookup for those). */
  checkLiteral(url: URL, shown: string): void {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) === 0) return;
    const v = this.verdict(host);
    if (v) throw refusal(shown, [v]);
  }

  /**
   * A `lookup` for node:net: resolves `hostname`, keeps only the addresses
   * the guard accepts and hands those to the socket; fails with
   * EgressRefusedError naming `shown` when none is left.
   */
  lookupFor(shown: string) {
    return (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
      this.resolver(hostname).then(
        (found) => {
          const wanted = found.filter((a) => !options.family || a.family === options.family);
          const usable = wanted.filter((a) => !this.verdict(a.address));
          if (usable.length === 0) {
            const refused = wanted.map((a) => this.verdict(a.address)).filter((v): v is NonPublicVerdict => v !== undefined);
            const err = refused.length ? refusal(shown, refused) : new Error(`${hostname} has no address${options.family ? ` of IPv${options.family}` : ''}`);
            callback(err as NodeJS.ErrnoException, '');
            return;
          }
          if (options.all) callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
          else callback(null, usable[0]!.address, usable[0]!.family);
        },
        (err: NodeJS.ErrnoException) => callback(err, ''),
      );
    };
  }
}

function refusal(shown: string, refused: readonly NonPublicVerdict[]): EgressRefusedError {
  const networks = [...new Set(refused.map((v) => v.network))];
  const allow = networks.map((n) => `${ALLOW_OPTION} ${n}`).join(' ');
  if (refused.length === 1) {
    const [v] = refused as [NonPublicVerdict];
    return new EgressRefusedError(`${shown} resolves to ${v.address}, which is not a public address (${v.what}); allow it with ${allow}`);
  }
  const list = refused.map((v) => `${v.address} (${v.what})`).join(', ');
  return new EgressRefusedError(`${shown} resolves only to addresses that are not public: ${list}; allow them with ${allow}`);
}

/** One HTTP request through the guard. */
export interface GuardedRequestOptions {
  guard: EgressGuard;
  signal: AbortSignal;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** How `url` is named in a refusal (defaults to the URL itself). */
  shown?: string;
}

/** No byte for this long fails a request, like fetch's default, so a stalled server cannot hold a build slot until its timeout. */
const IDLE_TIMEOUT_MS = 300_000;

/**
 * Sends one request (no redirects followed: callers check every hop) and
 * resolves with the response head; the caller reads or destroys the body.
 * A refused address rejects with EgressRefusedError before any connection.
 */
export function guardedRequest(url: URL, opts: GuardedRequestOptions): Promise<IncomingMessage> {
  const shown = opts.shown ?? url.href;
  opts.guard.checkLiteral(url, shown);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: opts.method ?? 'GET',
      // identity: the bytes saved are the bytes the document's sha256 describes, never a decoded variant.
      headers: { 'user-agent': 'left4me', 'accept-encoding': 'identity', ...opts.headers },
      signal: opts.signal,
      lookup: opts.guard.lookupFor(shown),
      // A fresh connection each time: a pooled socket may come from a request that was not checked.
      agent: false,
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.once('response', resolve);
    req.once('error', reject);
    req.end(opts.body);
  });
}
