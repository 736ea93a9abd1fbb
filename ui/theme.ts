/** Colours for light and dark (the host's `dark` attribute), shared by every element. */
import { css } from 'lit';

export const theme = css`
  :host {
    --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0969da; --accent-bg: #ddf4ff;
    --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --row-bad: #ffebe9; --input-bg: #ffffff;
  }
  :host([dark]), :host-context([dark]) {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --accent: #4493f8; --accent-bg: #1f2a3a;
    --ok: #3fb950; --bad: #f85149; --warn: #d29922; --row-bad: #3b1d1f; --input-bg: #010409;
  }
`;
