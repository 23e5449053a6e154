// Schemas of the smaller routes: host services, Docker's /events query.
import { z } from 'zod';
import { BadRequest } from '../../model/errors.js';
import { parseHostService } from '../../model/host-service.js';
import { optionalParsed, parsed, text } from './fields.js';
import { checkEventFilters, timestampNano } from '../docker/events.js';
import { parseFilters } from '../docker/filters.js';

export const addHostServiceBody = z.object({
  Spec: parsed(text(600), (s) => {
    if (!s) throw new BadRequest('give the host service as {"Spec": "NAME=169.254.x.y:PORT->HOSTPORT"}');
    return parseHostService(s);
  }),
});

export const hostServiceParams = z.object({ name: text(253).min(1) });

/** GET /events: since/until in unix seconds (the CLI turns "10m" into one), filters as JSON. */
export const eventsQuery = z.object({
  since: optionalParsed(timestampNano, 32),
  until: optionalParsed(timestampNano, 32),
  filters: parsed(text(65536).optional(), (v) => checkEventFilters(parseFilters(v))),
});
