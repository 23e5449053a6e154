// Schemas of the /images routes (Docker Engine API shapes).
import { z } from 'zod';
import { queryBool, text } from './fields.js';

export const imageParams = z.object({ name: text(512).min(1) });
export const imageListQuery = z.object({ all: queryBool });
export const tagQuery = z.object({ repo: text(512).min(1, 'give the new name (repo)'), tag: text(128).optional() });
export const removeImageQuery = z.object({ force: queryBool, noprune: queryBool });
export const createImageQuery = z.object({
  fromSrc: text(4096).optional(),
  fromImage: text(512).optional(),
  repo: text(512).optional(),
  tag: text(128).optional(),
  message: text(4096).optional(),
  platform: text(64).optional(),
});
/** `changes` may repeat: every value counts (moby reads r.Form["changes"]). */
export const changesList = z.array(text(8192)).max(100);
export const loadQuery = z.object({ quiet: queryBool });
