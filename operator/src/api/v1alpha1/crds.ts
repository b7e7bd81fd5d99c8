// The two CustomResourceDefinitions, built from the schemas in spec.ts.
import type { Schema } from './schema.ts';
import { GROUP, quorumVatSpec, quorumVatStatus, VERSION, vatSpec, vatStatus } from './spec.ts';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

const ready: Column = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the vat answers messages.',
};
const vatId = (priority?: number): Column => ({
  name: 'VatID',
  type: 'string',
  jsonPath: '.status.vatId',
  description: "The vat's VatID.",
  ...(priority ? { priority } : {}),
});
const age: Column = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

function crd(
  kind: string,
  plural: string,
  shortName: string,
  description: string,
  spec: Schema,
  status: Schema,
  columns: Column[],
  scale: boolean,
): Record<string, unknown> {
  const schema: Schema = {
    type: 'object',
    description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this object.' },
      kind: { type: 'string', description: 'Kind of this object.' },
      // The API server allows nothing but the type here (its own schema describes metadata).
      metadata: { type: 'object' } as Schema,
      spec,
      status,
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'quorumvat' },
    },
    spec: {
      group: GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        shortNames: [shortName],
        categories: ['quorumvat'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: {
            status: {},
            ...(scale
              ? {
                  scale: {
                    specReplicasPath: '.spec.replicas',
                    statusReplicasPath: '.status.replicas',
                    labelSelectorPath: '.status.selector',
                  },
                }
              : {}),
          },
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

export const vatCrd = crd(
  'Vat',
  'vats',
  'vat',
  'A Vat: an object-capability vat run by one vat node on one pod, with its own data volume ' +
    'and key, reachable by its VatID.',
  vatSpec,
  vatStatus,
  [ready, vatId(), age],
  false,
);

export const quorumVatCrd = crd(
  'QuorumVat',
  'quorumvats',
  'qvat',
  'A QuorumVat: one vat replicated over several member pods; a message counts once threshold ' +
    'members agree. kubectl scale changes the membership one member at a time.',
  quorumVatSpec,
  quorumVatStatus,
  [
    ready,
    {
      name: 'Members',
      type: 'integer',
      jsonPath: '.status.replicas',
      description: 'Voting members.',
    },
    {
      name: 'Threshold',
      type: 'integer',
      jsonPath: '.status.threshold',
      description: 'Members that must agree (k).',
    },
    {
      name: 'Tolerates',
      type: 'integer',
      jsonPath: '.status.tolerates.crashed',
      description: 'Members that may be down (n - k).',
    },
    {
      name: 'Byzantine',
      type: 'integer',
      jsonPath: '.status.tolerates.byzantine',
      description: 'Members that may lie: min(n - k, 2k - n - 1).',
      priority: 1,
    },
    {
      name: 'Epoch',
      type: 'integer',
      jsonPath: '.status.epoch',
      description: 'Configuration epoch.',
    },
    vatId(1),
    age,
  ],
  true,
);

/** File name (under crds/) → CRD object. */
export const crdFiles: Record<string, Record<string, unknown>> = {
  'quorumvat.dev_vats.yaml': vatCrd,
  'quorumvat.dev_quorumvats.yaml': quorumVatCrd,
};
