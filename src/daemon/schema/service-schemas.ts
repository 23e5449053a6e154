// Schemas of the /services routes (Docker's ServiceSpec subset berth runs). Structure and text
// limits here; model/service-spec.ts then checks the meaning (names, ports, modes, health) and
// resolves networks against state.
import { z } from 'zod';
import { argText, list, text, textMap } from './fields.js';

const nonNegInt = z.number().int().min(0);

const portConfig = z.object({
  Protocol: z.enum(['tcp', 'udp']).optional(),
  TargetPort: z.number().int(),
  PublishedPort: nonNegInt.optional(),
  PublishMode: text(16).optional(),
});

export const createServiceBody = z.object({
  Name: text(63).optional(),
  Labels: textMap(),
  TaskTemplate: z
    .object({
      ContainerSpec: z
        .object({
          Command: list(argText, 10_000),
          Args: list(argText, 10_000),
          Env: list(argText, 10_000),
          Rootfs: text(4096).optional(),
          Healthcheck: z.unknown().optional(),
        })
        .optional(),
      Networks: list(z.object({ Target: text(256), Aliases: list(text(253), 100) }), 20),
      Placement: z.object({ Constraints: list(text(200), 20) }).optional(),
    })
    .optional(),
  Mode: z.object({ Replicated: z.object({ Replicas: nonNegInt.max(1000).optional() }).optional() }).optional(),
  EndpointSpec: z.object({ Mode: text(16).optional(), Ports: list(portConfig, 100) }).optional(),
  UpdateConfig: z.object({ Parallelism: nonNegInt.optional(), Delay: nonNegInt.optional() }).optional(),
});

/** berth's update: the fields that change (Docker sends a whole spec; berth takes these). */
export const updateServiceBody = z.object({
  Replicas: nonNegInt.max(1000).optional(),
  EnvAdd: list(argText, 1000).optional(),
  UpdateConfig: z.object({ Parallelism: nonNegInt.optional(), Delay: nonNegInt.optional() }).optional(),
});

export const serviceParams = z.object({ id: text(256).min(1) });
