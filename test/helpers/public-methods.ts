import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The public methods of each class exported from `src/index.ts`, as its
 * users see them: the TypeScript declarations, less private, protected and
 * `@internal` members (which exist at run time too, so reflection alone
 * would fuzz internals) and deprecated aliases.
 */
export function publicMethods(): Map<string, string[]> {
  const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry)!;
  const out = new Map<string, string[]>();
  for (const exported of checker.getExportsOfModule(checker.getSymbolAtLocation(source)!)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (!(symbol.flags & ts.SymbolFlags.Class)) continue;
    const instance = checker.getDeclaredTypeOfSymbol(symbol);
    const methods: string[] = [];
    for (const member of checker.getPropertiesOfType(instance)) {
      const decl = member.valueDeclaration ?? member.declarations?.[0];
      if (decl === undefined || !(member.flags & ts.SymbolFlags.Method)) continue;
      const modifiers = ts.getCombinedModifierFlags(decl);
      if (modifiers & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      // Internal members, and deprecated aliases (they warn, and run under --throw-deprecation here).
      if (ts.getJSDocTags(decl).some((t) => t.tagName.text === 'internal' || t.tagName.text === 'deprecated')) continue;
      if (member.name.startsWith('__@') || member.name.startsWith('#')) continue; // symbol-keyed (dispose) and private names
      methods.push(member.name);
    }
    out.set(symbol.name, methods.sort());
  }
  return out;
}
