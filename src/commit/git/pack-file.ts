// Writes objects as one pack (version 2, no deltas) with its index: how every group
// commit stores its objects — a group's blobs, trees and commits in two files instead of
// a loose object each (a folder, a temp file and a rename per object: a quarter of a
// drain's CPU went there). `git repack` beside the runtime (packing.ts) later merges the
// small packs into one with deltas, as `git gc --auto` merges the packs `git fetch` leaves.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, fsync, openSync, writeFileSync, writeSync } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { crc32, deflate, deflateSync, type ZlibOptions } from "node:zlib";
import type { ObjectType } from "./objects.js";

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3 };

export interface PackedObject {
  oid: string;
  type: ObjectType;
  content: Buffer;
}

/** The pack entry header: type and size, 4 bits of size in the first byte, 7 in each next. */
function entryHeader(type: ObjectType, size: number): Buffer {
  const bytes: number[] = [];
  let byte = (TYPE_CODE[type] << 4) | (size & 0x0f);
  size = Math.floor(size / 16);
  while (size > 0) {
    bytes.push(byte | 0x80);
    byte = size & 0x7f;
    size = Math.floor(size / 128);
  }
  bytes.push(byte);
  return Buffer.from(bytes);
}

/**
 * Objects larger than this are stored without compression (zlib level 0, what git writes
 * with core.compression=0). Only big trees get there — `results/` of a data dir in the old
 * flat layout, thousands of SHA-1s that do not compress — and deflating a 400 KB tree at
 * level 1 took 9 ms of every commit, level 0 1.4 ms. `git repack` stores them with deltas.
 */
const STORE_UNCOMPRESSED_FROM = 64 * 1024;

/**
 * zlib at level 1 (git's core.looseCompression default) with a window no bigger than the
 * object: the same bytes out for an object that fits the window, and the default
 * 32 KB window with a 128 KB hash table (256 KB set up and zeroed per call) cost more than
 * compressing a 600-byte result. Any inflater reads a smaller window.
 */
function zlibOptions(size: number): ZlibOptions {
  if (size > STORE_UNCOMPRESSED_FROM) return { level: 0 };
  const windowBits = Math.min(15, Math.max(9, Math.ceil(Math.log2(size + 262))));
  return { level: 1, windowBits, memLevel: Math.max(1, windowBits - 7) };
}

/** A loose object's bytes (see zlibOptions). */
export function compress(content: Buffer): Buffer {
  return content.length <= STORE_UP_TO ? stored(content) : deflateSync(content, zlibOptions(content.length));
}

/**
 * Objects up to this size are stored (a zlib stream of one uncompressed block, as level 0
 * writes): zlib saves a few dozen bytes on them, and each deflateSync call builds a whole
 * zlib stream object, ~30 µs — a fresh agent's first commit has 15 such objects, every
 * task commit a few (its commit, small trees). `git repack` compresses them later.
 */
const STORE_UP_TO = 512;

/** `content` as a zlib stream (RFC 1950) of one stored deflate block (RFC 1951 §3.2.4). */
function stored(content: Buffer): Buffer {
  const n = content.length;
  const out = Buffer.allocUnsafe(2 + 5 + n + 4);
  out[0] = 0x78; // deflate, 32 KB window
  out[1] = 0x01; // no dictionary, fastest; (0x78 << 8 | 0x01) % 31 === 0
  out[2] = 0x01; // the final block, stored
  out.writeUInt16LE(n, 3);
  out.writeUInt16LE(~n & 0xffff, 5);
  content.copy(out, 7);
  let a = 1;
  let b = 0;
  for (let i = 0; i < n; i++) {
    a = (a + content[i]!) % 65521;
    b = (b + a) % 65521;
  }
  out.writeUInt32BE(((b << 16) | a) >>> 0, 7 + n);
  return out;
}

const deflating = promisify(deflate);

/**
 * Objects up to this size are compressed right here: handing a 100-byte blob to libuv's
 * threads (a zlib handle, a queued job, a callback) cost more than compressing it — a
 * fresh agent's first commit is 18 such objects, and 1,000 agents start at once.
 */
const DEFLATE_HERE_UP_TO = 4 * 1024;

/** The `.pack` and `.idx` bytes for `objects`, and the pack's name (its SHA-1). */
export async function packBytes(objects: PackedObject[]): Promise<{ name: string; pack: Buffer; idx: Buffer }> {
  // In libuv's threads, side by side: compressing was a fifth of a drain's main thread.
  const bodies = await Promise.all(objects.map((o) => (o.content.length <= DEFLATE_HERE_UP_TO ? compress(o.content) : deflating(o.content, zlibOptions(o.content.length)))));
  const header = Buffer.alloc(12);
  header.write("PACK", 0, "latin1");
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(objects.length, 8);
  const parts: Buffer[] = [header];
  const entries: { oid: string; offset: number; crc: number }[] = [];
  let offset = 12;
  for (const [i, o] of objects.entries()) {
    const head = entryHeader(o.type, o.content.length);
    const body = bodies[i]!;
    entries.push({ oid: o.oid, offset, crc: crc32(body, crc32(head)) });
    parts.push(head, body);
    offset += head.length + body.length;
  }
  const packSha = createHash("sha1");
  for (const p of parts) packSha.update(p);
  const packDigest = packSha.digest();
  parts.push(packDigest);
  const pack = Buffer.concat(parts);

  entries.sort((a, b) => (a.oid < b.oid ? -1 : 1));
  const n = entries.length;
  // Version 2: magic, version, fan-out, names, CRCs, offsets, then both checksums.
  // Offsets fit in 31 bits: a group commit is far below 2 GB.
  const idx = Buffer.alloc(8 + 256 * 4 + n * 28 + 40);
  Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]).copy(idx, 0);
  for (let b = 0, i = 0; b < 256; b++) {
    while (i < n && parseInt(entries[i]!.oid.slice(0, 2), 16) <= b) i++;
    idx.writeUInt32BE(i, 8 + b * 4);
  }
  const names = 8 + 256 * 4;
  entries.forEach((e, i) => {
    idx.write(e.oid, names + i * 20, "hex");
    idx.writeUInt32BE(e.crc >>> 0, names + n * 20 + i * 4);
    idx.writeUInt32BE(e.offset, names + n * 24 + i * 4);
  });
  packDigest.copy(idx, names + n * 28);
  createHash("sha1").update(idx.subarray(0, idx.length - 20)).digest().copy(idx, idx.length - 20);
  return { name: `pack-${packDigest.toString("hex")}`, pack, idx };
}

/**
 * Written and fsynced under a temp name git leaves alone: `git prune --expire=now` (in `git
 * gc --prune=now`) deletes every `tmp_*` file at once, also one being written. A crash's
 * leftover is removed by the next background repack (packing.ts). Only the fsync goes to the thread pool: the create and the write of a
 * commit's pack (kilobytes into the page cache) cost less than the trip there and back.
 */
async function writeAside(dir: string, data: Buffer): Promise<string> {
  const tmp = join(dir, `.agentos_${process.pid}_${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", 0o444);
  try {
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
    await fsyncing(fd);
  } catch (err) {
    closeSync(fd);
    await unlink(tmp).catch(() => {});
    throw err;
  }
  closeSync(fd);
  return tmp;
}

const fsyncing = promisify(fsync);

/**
 * Writes `objects` as `objects/pack/pack-<sha>.pack` and its `.idx`; both are fsynced
 * (git's default for packs) side by side, then renamed in, the index last: git and
 * isomorphic-git only read a pack through its index, so neither ever sees half a pack.
 * The same objects again (a replay) make the same name, and the rename replaces it with
 * the same bytes. Returns the path of its `.keep` file, to remove once the branch moved.
 */
export async function writePack(gitDir: string, objects: PackedObject[]): Promise<string> {
  const { name, pack, idx } = await packBytes(objects);
  const dir = join(gitDir, "objects", "pack");
  const written = await Promise.allSettled([writeAside(dir, pack), writeAside(dir, idx)]);
  const failed = written.find((w) => w.status === "rejected");
  if (failed) {
    await Promise.all(written.map((w) => (w.status === "fulfilled" ? unlink(w.value).catch(() => {}) : undefined)));
    throw failed.reason;
  }
  const [packTmp, idxTmp] = written.map((w) => (w as PromiseFulfilledResult<string>).value) as [string, string];
  // Kept until the branch points at its objects (the caller removes it): a person's `git
  // repack -a -d` deletes every pack it finds but those with a .keep, and nothing refers
  // to these objects yet. What `git receive-pack` does for a pushed pack, for the same reason.
  const keep = join(dir, `${name}.keep`);
  writeFileSync(keep, `agentos ${process.pid}\n`);
  try {
    await rename(packTmp, join(dir, `${name}.pack`));
    await rename(idxTmp, join(dir, `${name}.idx`));
  } catch (err) {
    await unlink(keep).catch(() => {});
    throw err;
  }
  return keep;
}
