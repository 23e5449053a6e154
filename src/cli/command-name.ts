// The subcommand a berth command line names, found before commander parses it, so that only that
// command's tree is built. Root options: -H/--host URL (also --host=URL, -HURL) and -h/--help.

/** The first argument that is not a root option or its value; undefined for help or no command. */
export function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (a === '--') return argv[i + 1];
    else if (!a.startsWith('-')) return a === 'help' ? undefined : a;
    else if (a === '-h' || a === '--help') return undefined;
  }
  return undefined;
}
