// Each private host gets its own cgroup subtree, nested under the test
// process's own cgroup in every hierarchy, and sees it as its root through a
// cgroup namespace. Without this, two private systemds (two test files, or two
// engineers) would both manage /system.slice/... of the one shared cgroupfs,
// and stopping a unit in one host would kill processes of the other; and unit
// cgroups would escape the memory limits the test process runs under.
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One mounted cgroup hierarchy as the test process sees it (read from /proc/self). */
export interface CgroupHierarchy {
  /** Where the hierarchy is mounted on the host, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
  /** Mount options naming the hierarchy (`cpu`, `none,name=systemd`); empty for cgroup2. */
  mountOptions: string;
  /** The test process's own cgroup in this hierarchy, e.g. /process_api/8c4b. */
  ownPath: string;
}

/** Symlinks directly under the cgroup root (e.g. cpu,cpuacct -> cpu), recreated inside the host. */
export interface CgroupLink {
  name: string;
  target: string;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Reads /proc/self/mountinfo and /proc/self/cgroup; returns every hierarchy the test process belongs to. */
export function readCgroupHierarchies(): CgroupHierarchy[] {
  const membership = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m) membership.set(m[2] ?? '', m[3] ?? '/');
  }
  const seen = new Set<string>();
  const result: CgroupHierarchy[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = unescapeMountinfo(left.split(' ')[4] ?? '');
    const [fsType, , superOptions = ''] = right.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    if (mountPoint !== CGROUP_ROOT && !mountPoint.startsWith(CGROUP_ROOT + '/')) continue;
    if (fsType === 'cgroup2') {
      const ownPath = membership.get('');
      if (ownPath === undefined || seen.has('')) continue;
      seen.add('');
      result.push({ mountPoint, fsType, mountOptions: '', ownPath });
      continue;
    }
    const names = superOptions.split(',').filter((o) => isHierarchyName(o));
    const key = [...membership.keys()].find((k) => k !== '' && sameSet(k.split(','), names));
    if (key === undefined || seen.has(key)) continue;
    seen.add(key);
    const onlyNamed = names.every((n) => n.startsWith('name='));
    result.push({
      mountPoint,
      fsType,
      mountOptions: (onlyNamed ? ['none', ...names] : names).join(','),
      ownPath: membership.get(key) ?? '/',
    });
  }
  return result;
}

/** Reads the symlinks directly under /sys/fs/cgroup (co-mounted controller aliases). */
export function readCgroupLinks(): CgroupLink[] {
  const links: CgroupLink[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(CGROUP_ROOT);
  } catch {
    return links;
  }
  for (const name of entries) {
    try {
      const target = readlinkIfLink(join(CGROUP_ROOT, name));
      if (target !== null) links.push({ name, target });
    } catch {
      // A vanished entry is not a link we need.
    }
  }
  return links;
}

/** Creates `<hierarchy>/<ownPath>/<name>` in every hierarchy; returns the host paths created (the caller owns them). */
export function createHostCgroups(hierarchies: CgroupHierarchy[], name: string): string[] {
  const created: string[] = [];
  try {
    for (const h of hierarchies) {
      const parent = join(h.mountPoint, h.ownPath);
      const dir = join(parent, name);
      mkdirSync(dir);
      created.push(dir);
      // A fresh v1 cpuset accepts no task until it has CPUs and memory nodes.
      if (h.fsType === 'cgroup' && h.mountOptions.split(',').includes('cpuset')) {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          writeFileSync(join(dir, file), readFileSync(join(parent, file), 'utf8').trim());
        }
      }
    }
  } catch (err) {
    removeCgroupTrees(created);
    throw err;
  }
  return created;
}

/** Removes cgroup directories depth-first; returns the ones still present (busy). Only empty cgroups can go, so this never kills anything. */
export function removeCgroupTrees(dirs: string[]): string[] {
  const left: string[] = [];
  for (const dir of dirs) {
    if (!removeTree(dir)) left.push(dir);
  }
  return left;
}

/** Lists which of the given cgroup directories still exist. */
export function existingCgroups(dirs: string[]): string[] {
  return dirs.filter((d) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  });
}

function removeTree(dir: string): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  for (const e of entries) {
    if (e.isDirectory()) removeTree(join(dir, e.name));
  }
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function isHierarchyName(option: string): boolean {
  if (option.startsWith('name=')) return true;
  return /^[a-z_]+$/.test(option) && !NON_CONTROLLER_OPTIONS.has(option);
}

const NON_CONTROLLER_OPTIONS = new Set([
  'rw', 'ro', 'none', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'favordynmods',
  'nsdelegate', 'memory_localevents', 'memory_recursiveprot', 'memory_hugetlb_accounting',
]);

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function readlinkIfLink(path: string): string | null {
  return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : null;
}

/** Decodes the octal escapes (\040 for space) mountinfo uses in paths. */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
