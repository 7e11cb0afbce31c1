/** The placement rule lives with the scheduler in src/serving/ (the latency simulation runs it too). */
export { place, type Placement } from '../../src/serving/placement.js';
