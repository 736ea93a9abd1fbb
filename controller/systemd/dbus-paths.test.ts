import { describe, expect, it } from 'vitest';
import { UNIT_PATH_PREFIX, unitNameFromPath, unitObjectPath } from './dbus-paths.js';

describe('unit object paths', () => {
  it.each([
    ['dbus.service', 'dbus_2eservice'],
    ['left4me-server@versus-1.service', 'left4me_2dserver_40versus_2d1_2eservice'],
    ['-.mount', '_2d_2emount'],
    ['var-lib-left4me-runtime-versus\\x2d1.mount', 'var_2dlib_2dleft4me_2druntime_2dversus_5cx2d1_2emount'],
    ['0day.service', '_30day_2eservice'],
    ['x9.slice', 'x9_2eslice'],
  ])('%s <-> %s', (name, label) => {
    expect(unitObjectPath(name)).toBe(UNIT_PATH_PREFIX + label);
    expect(unitNameFromPath(UNIT_PATH_PREFIX + label)).toBe(name);
  });

  it('rejects paths that are not unit objects', () => {
    expect(unitNameFromPath('/org/freedesktop/systemd1')).toBeNull();
    expect(unitNameFromPath('/org/freedesktop/systemd1/job/42')).toBeNull();
    expect(unitNameFromPath(UNIT_PATH_PREFIX)).toBeNull();
  });
});
