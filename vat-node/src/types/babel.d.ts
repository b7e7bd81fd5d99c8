// @endo/module-source ships TypeScript sources that import these untyped babel packages.
declare module '@babel/traverse' {
  export type Visitor = Record<string, unknown>;
  const traverse: (...args: unknown[]) => unknown;
  export default traverse;
}
declare module '@babel/generator' {
  export type GeneratorOptions = Record<string, unknown>;
  const generate: (...args: unknown[]) => { code: string };
  export default generate;
}
