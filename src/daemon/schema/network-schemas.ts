// Schemas of the /networks routes (Docker Engine API shapes). Names, subnets and addresses are
// parsed here, so the handlers (networks.ts, connect.ts) see only valid, normalised values.
import { z } from 'zod';
import { BadRequest } from '../../model/errors.js';
import { validateAlias, validateName } from '../../model/names.js';
import { parseCidrText, parseIpv4 } from '../../model/net-values.js';
import { goBody, list, optionalParsed, parsed, ref, text, textMap } from './fields.js';

export const idParams = z.object({ id: ref });

const DRIVERS = ['bridge', 'p2p', 'host', 'null', 'overlay'] as const;
export type DriverName = (typeof DRIVERS)[number];

function parseDriver(d: string | undefined): DriverName {
  const name = d || 'bridge';
  if (!(DRIVERS as readonly string[]).includes(name)) throw new BadRequest(`plugin "${name}" not found: berth supports the bridge, p2p and overlay drivers`);
  return name as DriverName;
}

const ipamConfig = z.object({
  Subnet: optionalParsed((s) => parseCidrText(s, 'subnet', true), 64),
  Gateway: optionalParsed((s) => parseIpv4(s, 'gateway'), 64),
  IPRange: optionalParsed((s) => parseCidrText(s, 'ip-range', true), 64),
});

export const createNetworkBody = goBody(z.object({
  Name: parsed(text(253), (s) => validateName('network', s)),
  Driver: parsed(text(64).optional(), parseDriver),
  Internal: z.boolean().optional().transform(Boolean),
  Attachable: z.boolean().optional(),
  CheckDuplicate: z.boolean().optional(),
  IPAM: z
    .object({ Driver: text(64).optional(), Config: list(ipamConfig, 16), Options: textMap().optional() })
    .nullish()
    .transform((v) => ({ Config: v?.Config ?? [] })),
  Options: textMap(),
  Labels: textMap(),
}), true);
export type CreateNetworkInput = z.output<typeof createNetworkBody>;

const endpointConfig = z
  .object({
    IPAMConfig: z
      .object({ IPv4Address: optionalParsed((s) => parseIpv4(s), 64) })
      .nullish()
      .transform((v) => v ?? { IPv4Address: undefined }),
    Aliases: list(parsed(text(253), validateAlias), 100),
  })
  .nullish()
  .transform((v) => v ?? { IPAMConfig: { IPv4Address: undefined }, Aliases: [] });
export type EndpointInput = z.output<typeof endpointConfig>;
export { endpointConfig };

export const connectBody = goBody(z.object({ Container: ref, EndpointConfig: endpointConfig }));
export type ConnectInput = z.output<typeof connectBody>;

export const disconnectBody = z.object({ Container: ref, Force: z.boolean().optional() });
