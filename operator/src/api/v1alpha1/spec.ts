// The spec and status schemas of Vat and QuorumVat: the one source the CRD YAML is generated
// from (npm run crds writes crds/ and the chart's copy; a test checks they never drift).
import { arr, int, int64, intOrString, obj, quantity, type Schema, str } from './schema.ts';

export const GROUP = 'quorumvat.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Bounds the API server enforces (CEL), exported so the operator and tests use the same. */
export const LIMITS = {
  gasMin: 1,
  gasMax: 1_000_000_000_000,
  memoryMiBMin: 32,
  memoryMiBMax: 16_384,
  replicasMin: 3,
  replicasMax: 15,
  contractSourceMax: 262_144,
  bootstrapPeersMax: 16,
} as const;

export const DEFAULTS = {
  storageSize: '1Gi',
  retention: 'Keep',
  gasLimit: 10_000_000,
  memoryLimitMiB: 256,
  logLevel: 'info',
  configMapKey: 'contract.js',
  replicas: 3,
} as const;

/**
 * The members of a QuorumVat must all run the same code (a member restarted with other code
 * would replay its transcript differently and diverge), so there the contract cannot change
 * after creation; the operator also pins the source it created the quorum with (a change to the
 * ConfigMap's content is reported, not rolled out).
 */
const contract = (sharedByMembers: boolean): Schema =>
  obj(
    'The contract: JavaScript source whose default export makes the vat root object. Give it ' +
      'inline (source) or through a ConfigMap in the same namespace (configMapRef), not both.' +
      (sharedByMembers
        ? ' Immutable: every member runs the code the QuorumVat was created with.'
        : ''),
    {
      source: str('Inline JavaScript source of the contract.', {
        minLength: 1,
        maxLength: LIMITS.contractSourceMax,
      }),
      configMapRef: obj(
        'A ConfigMap in the same namespace that holds the contract source.',
        {
          name: str('Name of the ConfigMap.', { minLength: 1, maxLength: 253 }),
          key: str('Key in the ConfigMap whose value is the source.', {
            default: DEFAULTS.configMapKey,
            minLength: 1,
            maxLength: 253,
          }),
        },
        { required: ['name'] },
      ),
    },
    {
      'x-kubernetes-validations': [
        {
          rule: 'has(self.source) != has(self.configMapRef)',
          message:
            'contract: give exactly one of source (inline JavaScript) or configMapRef ' +
            '(a ConfigMap holding it)',
        },
        ...(sharedByMembers
          ? [
              {
                rule: 'self == oldSelf',
                message:
                  'contract is immutable on a QuorumVat: every member must run the same code (create a new QuorumVat for a new contract)',
              },
            ]
          : []),
      ],
    },
  );

const storage = obj(
  "The vat's data volume (a PersistentVolumeClaim per pod): its durable store and its own " +
    'private key, which never leave the pod. Size and class are fixed at creation.',
  {
    size: quantity(
      'Requested size of the data volume (a quantity such as 1Gi). Immutable.',
      'storage.size',
      { default: DEFAULTS.storageSize },
    ),
    storageClassName: str(
      "StorageClass of the data volume; the cluster's default class when unset. Immutable.",
      { minLength: 1, maxLength: 253 },
    ),
    retention: str(
      'What happens to the data volumes when the resource is deleted: Keep (the default: ' +
        'the vat can be brought back from them) or Delete.',
      { enum: ['Keep', 'Delete'], default: DEFAULTS.retention },
    ),
  },
  {
    // The default is checked against the rules as it stands: it must name the size itself.
    default: { size: DEFAULTS.storageSize, retention: DEFAULTS.retention },
    'x-kubernetes-validations': [
      {
        rule: 'self.size == oldSelf.size',
        message:
          'storage.size is immutable: the data volume cannot be resized through this resource',
        fieldPath: '.size',
      },
      {
        rule:
          'has(self.storageClassName) == has(oldSelf.storageClassName) && ' +
          '(!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)',
        message: 'storage.storageClassName is immutable after creation',
        fieldPath: '.storageClassName',
      },
    ],
  },
);

const quantities = (what: string): Schema =>
  obj(
    `${what} by resource name (cpu, memory, ...), as in a Pod's container resources.`,
    {},
    {
      additionalProperties: intOrString('A quantity such as 500m, 2 or 256Mi.', {
        pattern:
          '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
      }),
    },
  );

/**
 * Gas is part of what a delivery does: the members of a QuorumVat must all meter with one limit
 * (a member with another would end some delivery differently and diverge), so there it cannot
 * change after creation.
 */
const gasLimit = (sharedByMembers: boolean): Schema =>
  int64(
    'Gas allowed per delivery; a delivery that exceeds it is aborted and rolled back.' +
      (sharedByMembers ? ' Immutable: every member meters with the same limit.' : ''),
    {
      default: DEFAULTS.gasLimit,
      'x-kubernetes-validations': [
        {
          rule: `self >= ${LIMITS.gasMin} && self <= ${LIMITS.gasMax}`,
          message: `gasLimit must be between ${LIMITS.gasMin} and ${LIMITS.gasMax} per delivery`,
        },
        ...(sharedByMembers
          ? [
              {
                rule: 'self == oldSelf',
                message:
                  'gasLimit is immutable on a QuorumVat: every member must meter deliveries with the same limit',
              },
            ]
          : []),
      ],
    },
  );

const vatSpecProperties: Record<string, Schema> = {
  contract: contract(false),
  image: str(
    "Container image of the vat node. Defaults to the operator's vat image (chart value " +
      'vatImage.repository:tag).',
    { minLength: 1, maxLength: 512 },
  ),
  storage,
  resources: obj('Compute resources of the vat node container.', {
    requests: quantities('Minimum resources'),
    limits: quantities('Maximum resources'),
  }),
  gasLimit: gasLimit(false),
  memoryLimitMiB: int(
    "Heap limit (V8 old generation) of the vat's worker process in MiB; a delivery that " +
      "exceeds it is aborted. The worker's resident memory is capped at twice this (at least " +
      '512 MiB): size the pod above that cap plus ~150 MiB for the node process itself.',
    {
      default: DEFAULTS.memoryLimitMiB,
      'x-kubernetes-validations': [
        {
          rule: `self >= ${LIMITS.memoryMiBMin} && self <= ${LIMITS.memoryMiBMax}`,
          message: `memoryLimitMiB must be between ${LIMITS.memoryMiBMin} and ${LIMITS.memoryMiBMax}`,
        },
      ],
    },
  ),
  logLevel: str('Log level of the vat node (pino JSON lines on stdout).', {
    enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    default: DEFAULTS.logLevel,
  }),
  bootstrapPeers: arr(
    'Extra libp2p multiaddrs to bootstrap the DHT from, besides the shared in-cluster ' +
      'bootstrap Service the operator always adds.',
    str('A libp2p multiaddr, such as /dns4/host/tcp/4001/p2p/12D3KooW....', {
      minLength: 1,
      maxLength: 512,
      'x-kubernetes-validations': [
        {
          rule: "self.startsWith('/')",
          message: 'bootstrapPeers entries must be libp2p multiaddrs starting with /',
        },
      ],
    }),
    { maxItems: LIMITS.bootstrapPeersMax, 'x-kubernetes-list-type': 'atomic' },
  ),
};

export const vatSpec = obj(
  'The desired state of a Vat: one vat node on one pod.',
  vatSpecProperties,
  {
    required: ['contract'],
  },
);

export const quorumVatSpec = obj(
  'The desired state of a QuorumVat: one vat replicated over replicas member pods, whose ' +
    'messages count once threshold members agree.',
  {
    ...vatSpecProperties,
    contract: contract(true),
    gasLimit: gasLimit(true),
    replicas: int(
      'Number of members (n). Changed one member at a time: a new member joins as a learner, ' +
        'catches up, then is voted in; a leaving member is voted out before its pod goes.',
      {
        default: DEFAULTS.replicas,
        'x-kubernetes-validations': [
          {
            rule: `self >= ${LIMITS.replicasMin}`,
            message:
              `a QuorumVat needs at least ${LIMITS.replicasMin} replicas: with fewer it tolerates ` +
              'no failed member (use a Vat for a single host)',
          },
          {
            rule: `self <= ${LIMITS.replicasMax}`,
            message: `a QuorumVat has at most ${LIMITS.replicasMax} replicas`,
          },
        ],
      },
    ),
    threshold: int(
      'Members that must agree (k). When unset: a majority, floor(n/2)+1, following replicas. ' +
        'Must satisfy 2k > n (two quorums always share a member) and k <= n.',
    ),
  },
  {
    required: ['contract'],
    'x-kubernetes-validations': [
      {
        rule: '!has(self.threshold) || self.threshold <= self.replicas',
        message: 'threshold must not exceed replicas: k members can never agree among fewer than k',
        fieldPath: '.threshold',
      },
      {
        rule: '!has(self.threshold) || 2 * self.threshold > self.replicas',
        message:
          'threshold must be more than half of replicas (2*threshold > replicas), or two ' +
          'disjoint quorums could decide differently',
        fieldPath: '.threshold',
      },
    ],
  },
);

const conditions = arr(
  'Standard conditions: Ready, Progressing and Degraded, each with a reason and a message.',
  obj(
    'One condition (as metav1.Condition).',
    {
      type: str('Condition type: Ready, Progressing or Degraded.', { maxLength: 316 }),
      status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
      reason: str('A CamelCase word saying why.', { maxLength: 1024 }),
      message: str('What a person should know, in a sentence.', { maxLength: 32_768 }),
      lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
      observedGeneration: int64('The .metadata.generation this condition was set for.'),
    },
    { required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'] },
  ),
  { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
);

const vatStatusProperties: Record<string, Schema> = {
  observedGeneration: int64('The .metadata.generation the operator last acted on.'),
  conditions,
  vatId: str("The vat's VatID (its public key's id), stable for the vat's whole life."),
  addresses: arr(
    'libp2p multiaddrs the vat is reachable at inside the cluster.',
    str('A libp2p multiaddr.'),
    { 'x-kubernetes-list-type': 'atomic' },
  ),
  sturdyrefSecret: obj(
    "The Secret holding the vat's bootstrap sturdyref (the sturdyref itself is never in status).",
    {
      name: str('Name of the Secret, in the same namespace.'),
      key: str('Key in the Secret whose value is the sturdyref.'),
    },
  ),
  contractHash: str('sha256 (hex) of the contract source the vat runs.'),
};

export const vatStatus = obj('The observed state of a Vat.', vatStatusProperties);

export const quorumVatStatus = obj('The observed state of a QuorumVat.', {
  ...vatStatusProperties,
  replicas: int('Voting members now (the scale subresource reads it).'),
  selector: str('Label selector of the member pods, as a string (for the scale subresource).'),
  epoch: int64("The quorum's configuration epoch: it grows by one with every membership change."),
  threshold: int('Members that must agree (k) in the current epoch.'),
  tolerates: obj('Faults the current configuration survives.', {
    crashed: int('Members that may be down while the quorum still decides (n - k).'),
    byzantine: int(
      'Members that may lie without breaking safety or liveness: min(n - k, 2k - n - 1).',
    ),
  }),
  members: arr(
    'The members, one per pod.',
    obj(
      'One member of the quorum.',
      {
        vatId: str("The member host's own VatID."),
        pod: str('The pod the member runs on.'),
        state: str(
          'learner (catching up, not voting), voting, or leaving (being voted out, its pod ' +
            'goes next).',
          { enum: ['learner', 'voting', 'leaving'] },
        ),
        ready: {
          type: 'boolean',
          description: "Whether the member's node reports itself ready as a member of this quorum.",
        },
      },
      { required: ['pod', 'state'] },
    ),
    { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['pod'] },
  ),
  genesisConfigMap: str(
    'The ConfigMap holding the genesis configuration (immutable: the quorum VatID is its hash).',
  ),
  pendingChange: obj(
    'The one membership change the operator requested that the configuration chain does not ' +
      'show yet. A request is bound to its epoch: once the epoch moves on it can never apply.',
    {
      epoch: int64('The epoch the request applies to.'),
      op: str('The change.', {
        enum: ['add', 'remove', 'threshold', 'add-learner', 'remove-learner'],
      }),
      member: str('VatID of the member added or removed.'),
      threshold: int('The threshold the change sets.'),
      pod: str('The pod of that member.'),
      requestedAt: str('When the request was last sent.', { format: 'date-time' }),
      attempts: int('How many times it was sent (the same signed request each time).'),
      lastError: str('Why the last attempt was not taken by a member (refused, unreachable).', {
        maxLength: 4096,
      }),
    },
    { required: ['epoch', 'op', 'requestedAt', 'attempts'] },
  ),
});
