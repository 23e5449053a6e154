// Schemas of the /volumes routes: named volumes are directories berth owns (DATA_ROOT/volumes).
import { z } from 'zod';
import { BadRequest } from '../../model/errors.js';
import { goBody, parsed, queryBool, text, textMap } from './fields.js';

function volumeName(s: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(s)) throw new BadRequest(`create ${s}: "${s}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
  return s;
}

export const volumeParams = z.object({ name: parsed(text(128), volumeName) });
export const createVolumeBody = goBody(
  z.object({
    Name: parsed(text(128).optional(), (s) => (s ? volumeName(s) : undefined)),
    Driver: text(64).optional().refine((d) => !d || d === 'local', { message: 'berth has the local volume driver only' }),
    Labels: textMap(),
    DriverOpts: textMap().refine((o) => Object.keys(o).length === 0, { message: 'the local driver of berth takes no options' }),
  }),
);
export const removeVolumeQuery = z.object({ force: queryBool });
