// Docker-style random names for sandboxes started without --name.
const LEFT = ['brave', 'calm', 'eager', 'fond', 'keen', 'lucid', 'merry', 'nifty', 'quiet', 'sharp', 'tender', 'witty'];
const RIGHT = ['curie', 'darwin', 'euler', 'gauss', 'hopper', 'knuth', 'lovelace', 'noether', 'pascal', 'ritchie', 'turing', 'wozniak'];

export function randomName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    const l = LEFT[Math.floor(Math.random() * LEFT.length)]!;
    const r = RIGHT[Math.floor(Math.random() * RIGHT.length)]!;
    const name = i < 20 ? `${l}_${r}` : `${l}_${r}${i}`;
    if (!taken(name)) return name;
  }
}
