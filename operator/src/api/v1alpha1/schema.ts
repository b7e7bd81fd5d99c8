// Small builders for OpenAPI v3 structural schemas. Every builder takes the field's description
// first, so no field can be written without one (`kubectl explain` shows them).

export interface Rule {
  rule: string;
  message: string;
  /** Field path the error is reported on (e.g. `.threshold`). */
  fieldPath?: string;
  reason?:
    | 'FieldValueInvalid'
    | 'FieldValueForbidden'
    | 'FieldValueRequired'
    | 'FieldValueDuplicate';
}

export interface Schema {
  type?: 'string' | 'integer' | 'boolean' | 'object' | 'array';
  description: string;
  format?: string;
  default?: unknown;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: Rule[];
}

type Extra = Omit<Schema, 'type' | 'description'>;

export const str = (description: string, extra: Extra = {}): Schema => ({
  type: 'string',
  description,
  ...extra,
});
export const int = (description: string, extra: Extra = {}): Schema => ({
  type: 'integer',
  description,
  ...extra,
});
export const int64 = (description: string, extra: Extra = {}): Schema => ({
  type: 'integer',
  format: 'int64',
  description,
  ...extra,
});
export const obj = (
  description: string,
  properties: Record<string, Schema>,
  extra: Extra = {},
): Schema => ({ type: 'object', description, properties, ...extra });
export const arr = (description: string, items: Schema, extra: Extra = {}): Schema => ({
  type: 'array',
  description,
  items,
  ...extra,
});
export const intOrString = (description: string, extra: Extra = {}): Schema => ({
  description,
  'x-kubernetes-int-or-string': true,
  ...extra,
});

/** A Kubernetes resource quantity (`1Gi`, `500m`, `2`) that must be above zero. */
export const quantity = (description: string, field: string, extra: Extra = {}): Schema =>
  str(description, {
    maxLength: 64,
    ...extra,
    'x-kubernetes-validations': [
      {
        rule: `isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))`,
        message: `${field} must be a positive quantity such as 1Gi or 500m`,
      },
      ...(extra['x-kubernetes-validations'] ?? []),
    ],
  });

/** Every field of a schema tree, with its path, for tests (descriptions everywhere). */
export function* fields(schema: Schema, path = ''): Generator<[string, Schema]> {
  yield [path || '.', schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    yield* fields(child, `${path}.${name}`);
  }
  if (schema.items) yield* fields(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* fields(schema.additionalProperties, `${path}{}`);
}
