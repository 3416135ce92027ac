/**
 * `${ENV_VAR}` references. A config keeps them as written: what reaches Temporal (workflow input,
 * history, memo) holds the reference, and only the process that uses a value resolves it from its
 * own environment.
 */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export function isEnvReference(value: string): boolean {
  return WHOLE_REFERENCE.test(value.trim());
}

/**
 * A secret field's reference: `${NAME}`, or `${NAME:-}` (empty when unset, which reads as "no
 * credentials"). A non-empty default is refused: it would be a literal secret in the config, and
 * so in Temporal's history.
 */
const SECRET_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-)?\}$/;

export function isSecretReference(value: string): boolean {
  return SECRET_REFERENCE.test(value.trim());
}

export function referencedVariables(value: string): string[] {
  return [...value.matchAll(REFERENCE)].map((m) => m[1] as string);
}

export class MissingEnvError extends Error {
  override name = 'MissingEnvError';
  readonly variable: string;
  constructor(variable: string, what: string) {
    super(`environment variable ${variable} (for ${what}) is not set`);
    this.variable = variable;
  }
}

/**
 * Resolves every `${NAME}` / `${NAME:-default}` in `value` from `env`. Throws MissingEnvError
 * naming the variable (never its value) when one is unset and has no default.
 */
export function resolveEnv(value: string, what: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(REFERENCE, (_all, name: string, fallback: string | undefined) => {
    const found = env[name];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    throw new MissingEnvError(name, what);
  });
}

/** Like resolveEnv, but undefined instead of throwing when a variable is unset. */
export function tryResolveEnv(
  value: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (value === undefined) return undefined;
  try {
    return resolveEnv(value, 'value', env);
  } catch (err) {
    if (err instanceof MissingEnvError) return undefined;
    throw err;
  }
}
