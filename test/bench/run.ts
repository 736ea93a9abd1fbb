import { renderReport, type BenchResult } from './report.js';
import { benchValidate } from './validate.js';
import { benchReconcile } from './reconcile.js';
import { benchUi } from './ui.js';
import { benchWeb } from './web.js';
import { benchLoad } from './load.js';

// `npm run bench`: every figure is reported as a ratio against a baseline
// measured in the same run, because these machines are shared and noisy.
const results: BenchResult[] = [];
const only = process.env.LEFT4ME_BENCH_ONLY;
if (!only || only === 'validate') results.push(...(await benchValidate()));
if (!only || only === 'reconcile') results.push(...(await benchReconcile()));
if (!only || only === 'web') results.push(...(await benchWeb()));
if (!only || only === 'ui') results.push(...(await benchUi()));
if (!only || only === 'load') results.push(...(await benchLoad()));
process.stdout.write(renderReport(results));
