import { renderReport, type BenchResult } from './report.js';
import { benchValidate } from './validate.js';
import { benchReconcile } from './reconcile.js';

// `npm run bench`: every figure is reported as a ratio against a baseline
// measured in the same run, because these machines are shared and noisy.
const results: BenchResult[] = [];
results.push(...(await benchValidate()));
if (process.env.LEFT4ME_BENCH_ONLY !== 'validate') results.push(...(await benchReconcile()));
process.stdout.write(renderReport(results));
