// Test fixtures are literals written by hand. Real input gets its branded types (Ipv4, Cidr,
// IfName, DomainName, ...) only from the parse functions in src/model; fixtures get them here,
// unchecked, so that tests can also feed the planners what the parsers would refuse (to test the
// planners' own guards).
export function fixture<T extends string>(s: string): T {
  return s as T;
}

export function fixtures<T extends string>(xs: readonly string[]): T[] {
  return xs.map((s) => s as T);
}
