/** A namespaced object's identity in caches and work queues: `namespace/name`, as client-go's MetaNamespaceKey. */
export type ObjectKey = string & { readonly __objectKey: unique symbol };

export function objectKey(namespace: string, name: string): ObjectKey {
  return `${namespace}/${name}` as ObjectKey;
}

export function namespaceOf(key: ObjectKey): string {
  return key.slice(0, key.indexOf('/'));
}

export function nameOf(key: ObjectKey): string {
  return key.slice(key.indexOf('/') + 1);
}

/** Namespace and name, for log fields and API paths. */
export function splitKey(key: ObjectKey): { namespace: string; name: string } {
  return { namespace: namespaceOf(key), name: nameOf(key) };
}
