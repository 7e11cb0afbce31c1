/**
 * The mesh against the cluster, in one place: tensor × context × pipeline × data must fit
 * the GPUs (idle GPUs are a warning), and tensor groups should stay within a node.
 */
import { diag } from '../diagnostics/diagnostic.js';
import { deviceCount, shownAxes } from '../mesh.js';
import { shown, spanOf, type PlanContext } from './context.js';

export function checkMeshSize(ctx: PlanContext): boolean {
  const { mesh, cluster, out, fields } = ctx;
  const product = deviceCount(mesh);
  const axes = shownAxes(mesh);
  const axesText = axes.join(' × ');
  const given = axes.filter((k) => fields.has(k));
  const primary = given.length > 0 ? spanOf(ctx, given[given.length - 1]!) : ctx.decl.nameSpan;
  const related = given.slice(0, -1).map((k) => ({ span: spanOf(ctx, k), message: shown(ctx, k) }));
  related.push({ span: cluster.span, message: `cluster '${cluster.name}' has ${cluster.gpus} GPUs` });
  // Everything but data: one replica.
  const tp = product / mesh.data;
  const others = axes.filter((a) => a !== 'data');
  const othersText = others.join(' × ');
  if (product > cluster.gpus) {
    const maxData = Math.floor(cluster.gpus / tp);
    const help =
      maxData >= 1
        ? `data = ${maxData} uses ${maxData * tp} of the ${cluster.gpus} GPUs (${[...others.map((a) => mesh[a]), maxData].join(' × ')})`
        : `${othersText} = ${tp} alone needs more than ${cluster.gpus} GPUs; reduce them or add GPUs to cluster '${cluster.name}'`;
    const sizes = axes.map((a) => mesh[a]).join(' × ');
    out.push(diag('PP3009', primary, { axes: axesText, sizes, product, cluster: cluster.name, gpus: cluster.gpus }, { help, related }));
    return false;
  }
  if (product < cluster.gpus) {
    const idle = cluster.gpus - product;
    const help =
      cluster.gpus % tp === 0
        ? `data = ${cluster.gpus / tp} uses all ${cluster.gpus} GPUs`
        : `use a mesh whose product is ${cluster.gpus}, or a cluster with ${product} GPUs`;
    out.push(diag('PP3010', primary, { axes: axesText, product, idle, gpus: cluster.gpus }, { help }));
  }
  if (mesh.tensor > cluster.gpusPerNode) {
    out.push(
      diag(
        'PP3017',
        spanOf(ctx, 'tensor'),
        { tensor: mesh.tensor, perNode: cluster.gpusPerNode },
        { help: `keep tensor ≤ ${cluster.gpusPerNode} and use pipeline across nodes` },
      ),
    );
  }
  return true;
}
