// `npm run bench -- [name…]`: runs the named benchmarks (all when none is named). Each
// prints figures and ratios against a baseline measured in the same run, never absolute claims.
// Not a test: nothing here fails on speed.

const BENCHES: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  sim: () => import('./sim.ts'),
  crypto: () => import('./crypto.ts'),
  ble: () => import('./ble.ts'),
  pump: () => import('./pump.ts'),
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: npm run bench -- [${Object.keys(BENCHES).join('|')}] …\n  with no name, runs every benchmark`);
    return;
  }
  const names = args.filter((a) => !a.startsWith('-'));
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    console.error(`medtwin bench: error [bench.unknown]: no benchmark named ${unknown.join(', ')} (have: ${Object.keys(BENCHES).join(', ')})`);
    process.exit(2);
  }
  for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
    console.log(`== bench ${name} ==`);
    const mod = await BENCHES[name]!();
    await mod.run(args.filter((a) => a.startsWith('-')));
  }
}

await main();
