import { renderReport, type BenchResult } from './report.js';
import { benchValidate } from './validate.js';

// `npm run bench`: every figure is reported as a ratio against a baseline
// measured in the same run, because these machines are shared and noisy.
const results: BenchResult[] = [];
results.push(...(await benchValidate()));
process.stdout.write(renderReport(results));
