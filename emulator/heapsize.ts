// What saved state costs on the V8 heap, for the snapshot budget: sizes of the objects a snapshot
// holds besides the typed memory it counts exactly. Figures are V8's on x64 with 8-byte pointers (as
// Node runs us), read from heap snapshots; a build with pointer compression (Electron's) needs less.

/** A plain object with `fields` in-object fields (map, properties and elements words first). */
export function objectBytes(fields: number): number {
  return 24 + 8 * fields;
}

/** A JS array of n numbers or references made at its length (a literal, slice, map): the array object and its backing store. */
export function arrayBytes(n: number): number {
  return 32 + (n > 0 ? 16 + 8 * n : 0);
}

/**
 * A JS array grown to n elements by push from `start` slots (a literal of `start` elements; an empty
 * one has none): V8 grows a full backing store to (length + 1) * 1.5 + 16.
 */
export function grownArrayBytes(n: number, start = 0): number {
  let cap = Math.min(n, start);
  while (cap < n) cap = cap + 1 + ((cap + 1) >> 1) + 16;
  return 32 + (cap > 0 ? 16 + 8 * cap : 0);
}

/** A typed array view's own object (its data is counted where it lives). */
export const TYPED_VIEW_BYTES = 96;

/** A Map entry (key, value, chain link, and a bucket share), with the table's usual slack. */
export const MAP_ENTRY_BYTES = 40;

/** A typed array with its own ArrayBuffer: the view, the buffer object and the native backing store record. */
export function ownTypedArrayBytes(byteLength: number): number {
  return TYPED_VIEW_BYTES + 88 + 160 + byteLength;
}
