// Schemas of the smaller routes: host services.
import { z } from 'zod';
import { BadRequest } from '../../model/errors.js';
import { parseHostService } from '../../model/host-service.js';
import { parsed, text } from './fields.js';

export const addHostServiceBody = z.object({
  Spec: parsed(text(600), (s) => {
    if (!s) throw new BadRequest('give the host service as {"Spec": "NAME=169.254.x.y:PORT->HOSTPORT"}');
    return parseHostService(s);
  }),
});

export const hostServiceParams = z.object({ name: text(253).min(1) });
