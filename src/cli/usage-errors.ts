// Usage errors worded as the docker CLI's (20.10): `unknown flag: --foo` and `See 'berth run
// --help'.`, argument counts as `"berth inspect" requires at least 1 argument.` with the usage.
import type { Command } from 'commander';

function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function plural(n: number): string {
  return `${n} argument${n === 1 ? '' : 's'}`;
}

/** The message for commander's error text `msg` raised by `cmd`; argv is what the user typed. */
export function dockerUsageError(cmd: Command, msg: string, argv: readonly string[]): string {
  const path = pathOf(cmd);
  const see = `See '${path} --help'.`;
  const usage = `\n\nUsage:  ${path} ${cmd.usage()}\n\n${cmd.description()}\n`;
  let m: RegExpExecArray | null;
  if ((m = /unknown option '([^']+)'/.exec(msg))) {
    const flag = m[1]!.split('=')[0]!;
    const text = flag.startsWith('--') ? `unknown flag: ${flag}` : `unknown shorthand flag: '${flag.slice(1, 2)}' in ${flag}`;
    return `${text}\n${see}\n`;
  }
  if ((m = /option '([^']+)' argument missing/.exec(msg))) {
    const flags = m[1]!.split(/[ ,]+/).filter((f) => f.startsWith('-'));
    const long = flags.find((f) => f.startsWith('--'));
    const short = flags.find((f) => !f.startsWith('--'));
    const typed = short && !argv.includes(long ?? '') && argv.includes(short) ? `'${short.slice(1)}' in ${short}` : (long ?? short);
    return `flag needs an argument: ${typed}\n${see}\n`;
  }
  if (/missing required argument/.test(msg) || /too many arguments/.test(msg)) {
    const args = cmd.registeredArguments;
    const min = args.filter((a) => a.required).length;
    const max = args.some((a) => a.variadic) ? Infinity : args.length;
    let rule: string;
    if (max === 0) rule = 'accepts no arguments';
    else if (min === max) rule = `requires exactly ${plural(min)}`;
    else if (max === Infinity) rule = `requires at least ${plural(min)}`;
    else rule = `requires at least ${min} and at most ${plural(max)}`;
    return `"${path}" ${rule}.\n${see}${usage}`;
  }
  if ((m = /unknown command '([^']+)'/.exec(msg))) {
    const root = pathOf(cmd).split(' ')[0]!;
    return `${root}: '${[...path.split(' ').slice(1), m[1]!].join(' ')}' is not a ${root} command.\n${see}\n`;
  }
  return `${msg.replace(/^error: /, '')}\n${see}\n`;
}

/** Commander's error codes that Docker answers with exit status 125 (flag errors). */
export const FLAG_ERRORS = new Set(['commander.unknownOption', 'commander.optionMissingArgument', 'commander.invalidArgument', 'commander.missingMandatoryOptionValue']);

/** Every command of the tree prints its usage errors the Docker way. */
export function dockerUsageErrors(root: Command, argv: readonly string[]): void {
  const each = (c: Command): void => {
    c.configureOutput({ outputError: (str, write) => write(dockerUsageError(c, str.trimEnd(), argv)) });
    for (const sub of c.commands) each(sub);
  };
  each(root);
}
