// The /lbs routes (berth lb). Each with its schemas (the convention in http.ts).
import type { Router } from './http.js';
import { created } from './http.js';
import type { LoadBalancers } from './lb.js';
import { addRouteBody, createLbBody, lbParams, lbRouteParams } from './schema/lb-schemas.js';

export function registerLbRoutes(r: Router, lbs: LoadBalancers): void {
  r.route({ method: 'POST', path: '/lbs/create', body: createLbBody }, async (q) => {
    const rec = await lbs.create(q.body);
    return created({ Name: rec.name, Warnings: [] });
  });
  r.route({ method: 'GET', path: '/lbs' }, async () => Promise.all(lbs.list().map((l) => lbs.inspect(l.name))));
  r.route({ method: 'GET', path: '/lbs/{name}', params: lbParams }, async (q) => lbs.inspect(q.params.name));
  r.route({ method: 'DELETE', path: '/lbs/{name}', params: lbParams }, async (q) => lbs.remove(q.params.name));
  r.route({ method: 'POST', path: '/lbs/{name}/routes', params: lbParams, body: addRouteBody }, async (q) => lbs.addRoute(q.params.name, q.body.Route));
  r.route({ method: 'DELETE', path: '/lbs/{name}/routes/{host}', params: lbRouteParams }, async (q) => lbs.removeRoute(q.params.name, q.params.host));
}
